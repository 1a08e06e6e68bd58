package miner

// Values recorded from the first implementation of the streams (see
// TestSeedsAreStable): QuerySeed(42, "run-a", 3, "q17"), the first three
// rows of its easy stream over a million rows, and its permutation of 5.
var (
	pinnedSeed uint64 = 2054462755173484592
	pinnedDraw        = []int64{246048, 999697, 623403}
	pinnedPerm        = []int{0, 1, 3, 2, 4}
)
