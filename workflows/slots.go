package workflows

import (
	"maps"
	"slices"
)

// BlockSlotsSignal is the signal the parent sends a block workflow in flight
// to let it run more tiles at once: its payload (an int) is added to the
// block's Slots. From version 1 of changeSlotGrants on, the parent hands out
// this way the slots that no block is left to start with.
const BlockSlotsSignal = "block-slots"

// slots is the parent's share-out of max_parallel among the blocks in flight:
// free is what no block holds, held what each block may run at once. A block
// gives its slots back when its last tile is done or when it ends, whichever
// the parent learns first (release is idempotent).
type slots struct {
	free int
	held map[int]int
}

func newSlots(maxParallel int) *slots {
	return &slots{free: maxParallel, held: map[int]int{}}
}

// take gives block b, which starts now, its share of the free slots: the free
// slots over the blocks that can start now (startable, counting b), at most
// its shards.
func (s *slots) take(b, startable, shards int) int {
	k := min(startable, s.free)
	n := min((s.free+k-1)/k, shards)
	s.free -= n
	s.held[b] = n
	return n
}

// release takes block b's slots back.
func (s *slots) release(b int) {
	s.free += s.held[b]
	delete(s.held, b)
}

// grants hands the free slots out to the blocks in flight that can use them,
// one at a time to the block with the most tiles left to start (ties: the
// lowest block), and returns what each block got, in block order. notDone
// tells, for a block, its tiles not yet done as far as the parent knows
// (progress signals come at most every progressEvery, so it may count tiles
// done since); a block's tiles left to start are that less its slots.
func (s *slots) grants(notDone func(b int) int) []grant {
	blocks := slices.Sorted(maps.Keys(s.held))
	left := make([]int, len(blocks))
	for i, b := range blocks {
		left[i] = notDone(b) - s.held[b]
	}
	got := make([]int, len(blocks))
	for ; s.free > 0 && len(left) > 0; s.free-- {
		i := slices.Index(left, slices.Max(left)) // the first largest
		if left[i] <= 0 {
			break
		}
		left[i]--
		got[i]++
		s.held[blocks[i]]++
	}
	var out []grant
	for i, n := range got {
		if n > 0 {
			out = append(out, grant{block: blocks[i], slots: n})
		}
	}
	return out
}

// grant is slots more for a block in flight.
type grant struct{ block, slots int }
