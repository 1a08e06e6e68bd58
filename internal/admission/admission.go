// Package admission estimates the peak memory of a job's activities on one
// worker and refuses a job that does not fit the worker's budget.
//
// Workers are shared: a spec whose range_max or query_block_rows is too big
// for a worker would otherwise take it past its memory in a tile or a merge,
// be killed by the kernel, and be retried on the next worker. The estimates
// are upper bounds made from the spec and the shards' footers only, so the
// planner refuses such a job in the time it takes to read the footers, and a
// tile refuses to start on a worker with less memory than the planner's.
// docs/design.md ("Memory per worker") gives the formula;
// activities TestAdmissionBoundsMeasuredPeaks checks it against measured peaks.
package admission

import (
	"fmt"
	"sort"
)

// Job is what the estimates need of a job: its sizes from the shards'
// footers, and the spec's fields that scale memory.
type Job struct {
	Dim            int   // embedding dimension
	QueryRows      int64 // all queries
	CorpusRows     int64 // all corpus rows
	MaxShardRows   int64 // rows of the largest corpus shard
	QueryBlockRows int64 // the spec's query_block_rows
	RangeMin       int   // the resolved selection's range_min
	RangeMax       int   // the resolved selection's range_max
	MaxPositives   int   // most positives of one query (pairs mode)
	NumNegatives   int
	EasyNegatives  int
}

// Bytes per item in the estimates. Each is a bound on what the code holds
// per item at the peak, rounded up; see docs/design.md.
const (
	// Overhead is what a step holds besides its items: the Go runtime, the
	// Parquet readers' buffers, the checkpoint being written.
	Overhead = 64 << 20
	// candidateBytes is one miner.Candidate (row int64, score float32,
	// padding).
	candidateBytes = 16
	// tileCandidateCopies counts a tile's copies of a kept candidate: the
	// top-K heap (whose slice may have grown to twice what it holds and
	// whose old arrays wait for the collector), the partial, the encoded
	// checkpoint and its id table. Measured: about 105 bytes a candidate.
	tileCandidateCopies = 8
	// mergeCandidateBytes is a candidate in a merge: the merged result, the
	// result of merging the next shard into it and the garbage of the one
	// before (3 × 16), and its id (the shard's id table, pruned to the
	// candidates kept).
	mergeCandidateBytes = 3*candidateBytes + idBytes
	// idBytes is a corpus id as a Go string with its table entry.
	idBytes = 64
	// mergeAhead is how many partials a merge reads at once
	// (activities.mergeAhead), each decoded and encoded.
	mergeAhead = 2
	// negativeBytes is one miner.Negative (row, score, kind, rank).
	negativeBytes = 24
	// windowBytes is one candidate of a query's window in the rebalance:
	// the miner.Negative and its id, decoded and picked.
	windowBytes = 2 * (negativeBytes + idBytes)
	// rowCountBytes is the rebalance's count of one corpus row's uses
	// (max_negative_frequency), a map entry.
	rowCountBytes = 48
)

// Estimate is the peak memory, in bytes, of each step of a job on a worker.
type Estimate struct {
	Tile      int64 // one MineTile: a query block against the largest corpus shard
	Merge     int64 // one MergeBlock
	Rebalance int64 // the Rebalance
}

// Peak is the most of the job one worker may hold at once, and names it.
// The rebalance runs beside the mine phase (it follows the merges, on any
// worker), so a worker may hold it together with a tile or a merge: the
// larger of those two plus the rebalance, with one Overhead between them.
func (e Estimate) Peak() (int64, string) {
	peak, step := e.Tile, "a tile"
	if e.Merge > peak {
		peak, step = e.Merge, "a block's merge"
	}
	return peak + e.Rebalance - Overhead, step + " beside the rebalance"
}

// blockRows is the rows of the largest query block.
func (j Job) blockRows() int64 { return max(1, min(j.QueryBlockRows, j.QueryRows)) }

// pool is the candidates a query keeps over the whole corpus.
func (j Job) pool() int64 { return min(int64(j.RangeMax)+int64(j.MaxPositives), j.CorpusRows) }

// Estimate computes the peak memory of each step of j.
func (j Job) Estimate() Estimate {
	b := j.blockRows()
	k := j.pool()
	kt := min(k, j.MaxShardRows) // what one tile can keep per query
	vectors := 4 * int64(j.Dim) * (b + j.MaxShardRows)
	window := max(0, min(int64(j.RangeMax), j.CorpusRows)-int64(j.RangeMin)) +
		int64(j.MaxPositives+j.NumNegatives+j.EasyNegatives)
	return Estimate{
		// The float32 vectors of the block and the shard, 1.5 × for the
		// decoding's buffers (activities TestTilePeakMemory), and the
		// next tile in flight's fetched shard file (about its vectors).
		Tile: vectors*3/2 + 4*int64(j.Dim)*j.MaxShardRows +
			b*kt*candidateBytes*tileCandidateCopies + Overhead,
		// The merged candidates, the partials being read, and the
		// windows cut from the merged candidates with their ids.
		Merge: b*k*mergeCandidateBytes + mergeAhead*b*kt*2*candidateBytes +
			b*window*(negativeBytes+idBytes) + Overhead,
		Rebalance: b*window*windowBytes + j.CorpusRows*rowCountBytes + Overhead,
	}
}

// Admit returns nil when j's peak (Estimate.Peak) fits in budget bytes, and otherwise
// a *TooBig error naming the fields to change and the largest values that fit.
// A budget of 0 or less admits everything.
func Admit(j Job, budget int64) error {
	return admit(j, budget, func(e Estimate) (int64, string) { return e.Peak() })
}

// AdmitTile is Admit for one tile alone: MineTile's check that it can hold
// what it is about to read, on a worker that may have less memory than the
// one that planned the job.
func AdmitTile(j Job, budget int64) error {
	return admit(j, budget, func(e Estimate) (int64, string) { return e.Tile, "a tile" })
}

func admit(j Job, budget int64, need func(Estimate) (int64, string)) error {
	if budget <= 0 {
		return nil
	}
	fits := func(j Job) bool {
		n, _ := need(j.Estimate())
		return n <= budget
	}
	if fits(j) {
		return nil
	}
	t := &TooBig{Job: j, Budget: budget}
	t.Need, t.Step = need(j.Estimate())
	t.MaxBlockRows = largest(1, j.blockRows(), func(v int64) bool {
		k := j
		k.QueryBlockRows = v
		return fits(k)
	})
	t.MaxRangeMax = largest(int64(j.RangeMin+j.NumNegatives), int64(j.RangeMax), func(v int64) bool {
		k := j
		k.RangeMax = int(v)
		return fits(k)
	})
	return t
}

// largest returns the largest v in [lo, hi] with ok(v), ok being monotone
// (true up to some value, false above), or 0 when ok(lo) is false.
func largest(lo, hi int64, ok func(int64) bool) int64 {
	if lo > hi || lo < 1 || !ok(lo) {
		return 0
	}
	// sort.Search finds the first n in [0, hi-lo] where lo+n+1 does not fit.
	n := sort.Search(int(hi-lo), func(n int) bool { return !ok(lo + int64(n) + 1) })
	return lo + int64(n)
}

// TooBig is the refusal of a job that does not fit a worker's memory.
type TooBig struct {
	Job          Job
	Need         int64  // bytes of the largest step
	Step         string // which step
	Budget       int64  // the worker's budget
	MaxBlockRows int64  // largest query_block_rows that fits; 0 if none
	MaxRangeMax  int64  // largest range_max that fits; 0 if none
}

func (t *TooBig) Error() string {
	j := t.Job
	head := fmt.Sprintf("query_block_rows %d with range_max %d (up to %d candidates per query over %d corpus rows) needs ~%s in %s",
		j.QueryBlockRows, j.RangeMax, j.pool(), j.CorpusRows, GiB(t.Need), t.Step)
	if t.MaxBlockRows == 0 && t.MaxRangeMax == 0 {
		return fmt.Sprintf("%s; this worker has %s (-memory): even one query per block does not fit: "+
			"the largest corpus shard (%d rows × dim %d) is too big for it: split the corpus into smaller shards",
			head, GiB(t.Budget), j.MaxShardRows, j.Dim)
	}
	var fix []string
	if t.MaxBlockRows > 0 {
		fix = append(fix, fmt.Sprintf("query_block_rows ≤ %d", t.MaxBlockRows))
	}
	if t.MaxRangeMax > 0 {
		fix = append(fix, fmt.Sprintf("range_max ≤ %d", t.MaxRangeMax))
	}
	msg := fmt.Sprintf("%s; this worker has %s (-memory); %s fits", head, GiB(t.Budget), fix[0])
	if len(fix) == 2 {
		msg = fmt.Sprintf("%s; this worker has %s (-memory); %s or %s fits", head, GiB(t.Budget), fix[0], fix[1])
	}
	return msg
}

// GiB formats bytes as GiB with two decimals ("1.50 GiB").
func GiB(b int64) string { return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30)) }
