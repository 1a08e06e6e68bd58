package miner

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hardneg/hardneg/internal/hugepages"
	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// Kernel computes dst[i*nc+j] = <q row i, c row j> for nq query rows and nc
// corpus rows of dimension dim, row-major. A kernel must score a pair the
// same way wherever the pair sits in the block, so that results do not depend
// on blocking or scheduling.
type Kernel = kernel.Func

// DefaultKernel is the kernel used when Tile.Kernel is nil.
func DefaultKernel() Kernel { return kernel.Default }

// Tile is the work of one mine activity: a block of queries against one
// corpus shard whose first row has global row number Base.
type Tile struct {
	Queries Matrix
	Corpus  Matrix
	Base    int64 // global corpus row of Corpus row 0
	K       int   // candidates kept per query

	// QueryLabels and CorpusLabels, when both are set (labeled mode), give
	// each row's label code. Items that share the query's label are never
	// candidates or easy draws; their lowest score is tracked instead.
	QueryLabels  []int32
	CorpusLabels []int32

	// QueryRows, when set (self mode), is each query's own global corpus row,
	// or -1; a query is never its own candidate, same-label item or easy draw.
	QueryRows []int64

	// Positives, when set (pairs mode), lists each query's positives as
	// global corpus rows; those in this shard are scored.
	Positives [][]int64

	// EasySeeds, when set, is each query's seed (QuerySeed); the first
	// EasyDraws rows of its easy stream over a corpus of CorpusRows rows are
	// drawn and those in this shard are scored.
	EasySeeds  []uint64
	EasyDraws  int
	CorpusRows int64

	// Floor, when set, holds for each query a score its final top K over the
	// whole corpus cannot fall below: the K-th best score among candidates
	// already found in other tiles of the same queries (a K-th best of some
	// of the corpus is never above the K-th best of all of it). Candidates
	// scoring below it cannot be among the final K, so they are left out of
	// Top, which may then hold fewer than K; Merge of this tile's partials
	// with those the floor came from gives the same top K as without it.
	// It saves the work of filling each query's list with candidates that
	// later tiles would only push out. A NaN floor is ignored.
	Floor []float32

	// Kernel computes the inner products; nil means the built-in engine
	// (kernel.Selected, on packed blocks), whose scores equal those of
	// DefaultKernel().
	Kernel Kernel
	// Precision is Exact (or "") or Quantized; both give the same result.
	Precision Precision
	// Workers bounds the goroutines used; 0 means GOMAXPROCS.
	Workers int
}

// Partial is one query's result in one tile, or after Merge, over the whole
// corpus.
type Partial struct {
	Top       []Candidate // best K, by Better
	Positives []Candidate // scored positives, by row
	SameLabel SameLabel   // labeled mode: the items sharing the query's label
	Easy      []Drawn     // scored easy draws, in draw order
}

// SameLabel summarises the corpus items that share a query's label (other
// than the query itself): their number and their lowest score, the margin
// anchor of labeled mode.
type SameLabel struct {
	Count int64
	Min   float32 // meaningful when Count > 0
}

// Drawn is a scored row of a query's easy stream; Draw is its place in the
// stream, which orders the merged draws.
type Drawn struct {
	Draw  int32
	Row   int64
	Score float32
}

// Precision says how SearchTile finds the best K: Exact scores every pair
// with the float kernel; Quantized scores every pair with 8-bit integers
// first, keeps the rows whose proven error interval could reach the top K,
// and rescores those exactly with the same float kernel, so its results are
// identical to Exact's (see package kernel for the bound).
type Precision string

// The precisions of the job spec's precision field; "" means Exact.
const (
	Exact     Precision = "exact"
	Quantized Precision = "quantized"
)

// Cache blocking. The corpus is packed for the kernel one block of
// packBytes at a time, shared by all workers, so that packing costs little
// beside the queries' work. Each worker scores a chunk of up to queryChunk
// queries against subBytes of the packed block at a time: those rows stay in
// the core's L2 (1 MiB here) while the chunk's micro-tiles stream over them.
var (
	packBytes = 4 << 20
	subBytes  = 384 << 10
)

// queryChunk is a multiple of the micro-tile heights (8 and 6).
const queryChunk = 48

// blocking returns the rows of a sub-block and of a packed block for rows of
// rowBytes bytes and panels of panel rows.
func blocking(rowBytes, panel int) (sub, block int) {
	sub = max(panel, subBytes/rowBytes/panel*panel)
	block = max(sub, packBytes/rowBytes/sub*sub)
	return sub, block
}

// validate checks t and returns the largest magnitudes of its queries and
// corpus.
func (t *Tile) validate() (mags magnitudes, err error) {
	if mags.queries, err = t.Queries.check(); err != nil {
		return mags, fmt.Errorf("queries: %w", err)
	}
	if mags.corpus, err = t.Corpus.check(); err != nil {
		return mags, fmt.Errorf("corpus: %w", err)
	}
	return mags, t.validateFields()
}

// magnitudes are the largest |x| of a tile's queries and corpus.
type magnitudes struct{ queries, corpus float32 }

// validateFields checks the tile's fields besides its two matrices.
func (t *Tile) validateFields() error {
	if t.Queries.Rows > 0 && t.Corpus.Rows > 0 && t.Queries.Dim != t.Corpus.Dim {
		return fmt.Errorf("query dimension %d differs from corpus dimension %d", t.Queries.Dim, t.Corpus.Dim)
	}
	if t.K < 0 {
		return fmt.Errorf("k = %d is negative", t.K)
	}
	switch t.Precision {
	case "", Exact, Quantized:
	default:
		return fmt.Errorf("precision %q is neither %q nor %q", t.Precision, Exact, Quantized)
	}
	nq := t.Queries.Rows
	if (t.QueryLabels == nil) != (t.CorpusLabels == nil) {
		return fmt.Errorf("labels given for only one of queries and corpus")
	}
	if t.QueryLabels != nil && (len(t.QueryLabels) != nq || len(t.CorpusLabels) != t.Corpus.Rows) {
		return fmt.Errorf("%d query labels for %d queries, %d corpus labels for %d rows",
			len(t.QueryLabels), nq, len(t.CorpusLabels), t.Corpus.Rows)
	}
	if t.QueryRows != nil && len(t.QueryRows) != nq {
		return fmt.Errorf("%d query rows for %d queries", len(t.QueryRows), nq)
	}
	if t.Positives != nil && len(t.Positives) != nq {
		return fmt.Errorf("%d positive lists for %d queries", len(t.Positives), nq)
	}
	if t.Floor != nil && len(t.Floor) != nq {
		return fmt.Errorf("%d floors for %d queries", len(t.Floor), nq)
	}
	if t.EasySeeds != nil && len(t.EasySeeds) != nq {
		return fmt.Errorf("%d easy seeds for %d queries", len(t.EasySeeds), nq)
	}
	if t.EasySeeds != nil && t.Base+int64(t.Corpus.Rows) > t.CorpusRows {
		return fmt.Errorf("shard rows [%d, %d) lie outside a corpus of %d rows", t.Base, t.Base+int64(t.Corpus.Rows), t.CorpusRows)
	}
	return nil
}

// Engines returns the name of this process's float engine ("avx512",
// "avx2" or "go", chosen by CPU features or HARDNEG_KERNEL) and of its int8
// prefilter engine ("" where Quantized runs the exact search).
func Engines() (exact, quantized string) {
	if quantEngine != nil {
		quantized = quantEngine.Name
	}
	return kernel.Selected.Name, quantized
}

// quantEngine is the int8 engine of Quantized searches (nil: run exact);
// tests swap it to run the prefilter on every engine.
var quantEngine = kernel.SelectedQuant

// SearchTile finds, for every query of the tile, the K best corpus items of
// the shard (exact, ties to the lower row), the exact scores of its positives
// and easy draws that live in the shard, and in labeled mode the summary of
// its same-label items. The work is spread over all cores; the result does
// not depend on their number, nor on the precision.
//
// Quantized applies with the built-in kernels (Kernel nil) where an int8
// kernel runs (kernel.SelectedQuant) and the data is within the bound's
// range (kernel.QuantSafe); elsewhere the search runs exact, which gives the
// same result.
func SearchTile(t Tile) ([]Partial, error) {
	return SearchTileContext(context.Background(), t)
}

// SearchTileContext is SearchTile that gives up when ctx is done: it looks
// between corpus blocks (a few MiB of corpus each), so a cancelled job's tile
// stops within a fraction of a second instead of running to its end.
func SearchTileContext(ctx context.Context, t Tile) ([]Partial, error) {
	p, _, err := SearchTileReport(ctx, t)
	return p, err
}

// Report says how a search ran, for logs and metrics: the result is the
// same whichever way.
type Report struct {
	// Prefilter is the int8 engine that scanned (kernel.QEngine names:
	// "avx512vnni", "avx2", ...), "" when the search ran exact throughout.
	Prefilter string
	// Rescored is the number of (query, row) pairs the prefilter let
	// through, which the exact engine then scored.
	Rescored int64
	// Checked is the number of pairs the residual check looked at before
	// they could be rescored (see residualCheck), 0 where it did not run.
	Checked int64
	// GaveUpAt is the number of corpus rows the prefilter scanned before it
	// handed over to the exact search because it let through too many
	// (giveUpShare), 0 when it did not.
	GaveUpAt int
	// RanExact says why a Quantized search ran exact from the start, ""
	// when it did not (or was not Quantized): "no int8 engine", "data
	// range" (kernel.QuantSafe), "few queries" (minQueries) or "large k"
	// (manyEntering).
	RanExact string
}

// SearchTileReport is SearchTileContext that also reports how the search
// ran.
func SearchTileReport(ctx context.Context, t Tile) ([]Partial, Report, error) {
	s, err := runSearch(ctx, t)
	if err != nil {
		return nil, Report{}, err
	}
	return s.out, s.report, nil
}

// runSearch is SearchTileContext returning the whole search, whose
// counters the tests read.
func runSearch(ctx context.Context, t Tile) (*search, error) {
	mags, err := t.validate()
	if err != nil {
		return nil, fmt.Errorf("search tile at row %d: %w", t.Base, err)
	}
	qe, why := t.prefilter(mags)
	s := newSearch(&t, qe != nil)
	s.done = ctx.Done()
	s.report.RanExact = why
	if qe != nil {
		s.quantized(qe)
	} else {
		s.exact()
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("search tile at row %d: %w", t.Base, err)
	}
	return s, nil
}

// stopped reports whether the search's context is done.
func (s *search) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// search is the state of one SearchTile.
type search struct {
	done    <-chan struct{} // closed when the caller gives up; nil never is
	t       *Tile
	eng     *kernel.Engine
	workers int
	chunk   int    // queries per work item
	tops    []topK // each query's best K
	same    []SameLabel
	out     []Partial
	scratch []scratch  // one per worker
	q       []qstate   // Quantized: per query
	qp      *quantPass // Quantized: the pass of the scan, once it started
	report  Report
}

// scratch is one worker's buffers.
type scratch struct {
	scores   []float32           // exact block scores
	approx   []float32           // quantized block scores
	marks    []uint64            // quantized: the approximate scores at least a threshold (kernel.AtLeast)
	cand     []int32             // quantized: a query's candidate rows in a sub-block (collectTop)
	reach    []float64           // quantized: the most each candidate's score can be
	offs     []int32             // quantized: the candidates' offsets in the block's RowMajor (narrow)
	dots     []int32             // quantized: their residual sums
	checked  int64               // quantized: candidates of the residual check
	spared   int64               // quantized: those it spared rescoring
	bounds   []float64           // quantized: the chunk's bounds for the block
	coefs    []kernel.BoundCoefs // quantized: the chunk's rows' bound terms
	pend     []pending           // quantized: rows waiting for exact scores, per query of the chunk
	padIdx   []int32             // offsets padded for Gather
	gathered []float32           // Gather's scores
	query    []float32           // the query Gather reads, placed by queryApart in queryBuf
	queryBuf []float32           // what query lies in
	queryAt  queryKey            // which query and block query was placed for
	seedBuf  []approxRow         // quantized: the seed's candidate rows, 2K per query
	seedTop  []topRows           // quantized: each query's seed candidates
	seedIdx  []int32             // quantized: offsets of a query's seed rows
	prefix   []float32           // quantized: a piece of queries' approximate scores of the seed's prefix (seedPrefix)
	// quantized, outlier dimensions: the chunk's scores over them
	apartScores []float32
	rescored    int64    // quantized: rows scored exactly in the scan
	_           [64]byte // keeps rescored, written often, off the next worker's cache line
}

// newSearch sets up the search of t, its top-k buffers for the quantized
// search (quantSlack) where quant is set.
func newSearch(t *Tile, quant bool) *search {
	eng := kernel.Selected
	if t.Kernel != nil {
		eng = kernel.FromFunc("tile", t.Kernel)
	}
	workers := t.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	nq := t.Queries.Rows
	chunk := max(8, min(queryChunk, (nq+workers-1)/workers+7)/8*8)
	s := &search{t: t, eng: eng, workers: workers, chunk: chunk,
		tops: make([]topK, nq), same: make([]SameLabel, nq), out: make([]Partial, nq),
		scratch: make([]scratch, workers)}
	// The top ks share one buffer, which their sorted lists (the partials'
	// Top) then keep: one allocation per tile instead of two per query. A
	// query keeps at most min(K, rows) candidates, which is the room it
	// has (newTopK: as many candidates, or twice as many keys).
	room := min(t.K, t.Corpus.Rows)
	slack := t.K
	if quant {
		slack = t.K / quantSlack
	}
	arena := hugepages.Make[Candidate](nq * room)
	for i := range s.tops {
		s.tops[i] = newTopK(t.K, slack, arena[i*room:i*room:(i+1)*room], t.Base, t.Corpus.Rows)
		if t.Floor != nil && !math.IsNaN(float64(t.Floor[i])) {
			s.tops[i].setFloor(t.Floor[i])
		}
	}
	return s
}

// quantSlack divides the slack of the quantized search's top-k buffers
// (newTopK): there every candidate that passes the gate was scored exactly
// first, so a gate that lags costs rows rescored (a buffer of 2k rescored
// 25% more rows than a heap at k = 100 and 1,000 on BenchmarkSearchTile's
// data; one of 1.25k, 6% and 7%, and it is 1.3x faster than the heap at
// k = 1,000 and even at 100).
const quantSlack = 4

// groupChunks is the most query chunks that share a pass over a sub-block
// (8 chunks of 48 queries: the sub-block's 384 KiB is read from L3 once
// per 384 queries).
var groupChunks = 8

// groups returns the work items of a search as ranges of query chunks,
// item g being chunks [starts[g], starts[g+1]): groups of up to groupChunks
// chunks, then the last four chunks per worker one by one, so that the
// workers, which take items in turn, finish a block within a chunk of each
// other (whole groups at the end left one worker idle for up to a group).
func (s *search) groups() (starts []int) {
	n := s.chunks()
	tail := min(n, 4*s.workers)
	for c := 0; c < n-tail; c += groupChunks {
		starts = append(starts, c)
	}
	for c := n - tail; c < n; c++ {
		starts = append(starts, c)
	}
	return append(starts, n)
}

// chunks is the number of query chunks.
func (s *search) chunks() int { return (s.t.Queries.Rows + s.chunk - 1) / s.chunk }

// chunkRange returns the queries of work item c.
func (s *search) chunkRange(c int) (lo, hi int) {
	return c * s.chunk, min(c*s.chunk+s.chunk, s.t.Queries.Rows)
}

// scanRows is the number of corpus rows to scan: none when k = 0 and there
// are no labels to summarise, or no queries.
func (t *Tile) scanRows() int {
	if t.K == 0 && t.QueryLabels == nil || t.Queries.Rows == 0 {
		return 0
	}
	return t.Corpus.Rows
}

// parallel calls f(w, i) for i in [0, n) on up to workers goroutines; w is
// the goroutine's index, for its scratch space.
func parallel(workers, n int, f func(w, i int)) {
	workers = min(workers, n)
	if workers <= 1 {
		for i := range n {
			f(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(w, i)
			}
		})
	}
	wg.Wait()
}

// exact runs the exact search: for each packed corpus block, every query
// chunk is scored against it and the scores offered to the queries' top Ks
// in row order, so each sees the rows in the same order whatever the
// scheduling.
func (s *search) exact() { s.exactFrom(0) }

// exactFrom is exact with the corpus rows before from scanned already.
func (s *search) exactFrom(from int) {
	t, e := s.t, s.eng
	dim, scan := t.Corpus.Dim, t.scanRows()
	if scan > from {
		sub, block := blocking(4*dim, e.Panel)
		packed := make([]float32, e.PackedLen(min(block, scan-from), dim))
		for b0 := from; b0 < scan && !s.stopped(); b0 += block {
			n := min(block, scan-b0)
			parallel(s.workers, (n+sub-1)/sub, func(_, j int) {
				r0, r1 := j*sub, min(j*sub+sub, n)
				e.Pack(packed[r0*dim:], t.Corpus.Data[(b0+r0)*dim:(b0+r1)*dim], r1-r0, dim)
			})
			// Each work item is a group of chunks that walks the block's
			// sub-blocks in order, every chunk of the group against one
			// sub-block while it is in L2: a sub-block comes from L3 once
			// per group rather than once per chunk.
			starts := s.groups()
			parallel(s.workers, len(starts)-1, func(w, g int) {
				sc := &s.scratch[w]
				for r0 := 0; r0 < n; r0 += sub {
					m := min(sub, n-r0)
					ldd := e.Padded(m)
					for c := starts[g]; c < starts[g+1]; c++ {
						lo, hi := s.chunkRange(c)
						sc.scores = grow(sc.scores, (hi-lo)*ldd)
						e.Scores(sc.scores, ldd, t.Queries.Data[lo*dim:hi*dim], hi-lo, dim, packed[r0*dim:], m)
						for i := lo; i < hi; i++ {
							s.collect(i, sc.scores[(i-lo)*ldd:(i-lo)*ldd+m], t.Base+int64(b0+r0))
						}
					}
				}
			})
		}
	}
	parallel(s.workers, s.chunks(), func(w, c int) {
		lo, hi := s.chunkRange(c)
		for i := lo; i < hi; i++ {
			s.out[i].Top = s.tops[i].sorted()
			s.out[i].SameLabel = s.same[i]
			s.finishQuery(w, i)
		}
	})
}

// finishQuery scores query qi's positives and easy draws.
func (s *search) finishQuery(w, qi int) {
	s.out[qi].Positives = s.scoreRows(w, qi, positivesIn(s.t, qi))
	s.out[qi].Easy = s.easy(w, qi)
}

func grow[T any](b []T, n int) []T {
	if cap(b) < n {
		return make([]T, n)
	}
	return b[:n]
}

// collect offers one query's scores against corpus rows base, base+1, ...
// Rows arrive in increasing order, so a score equal to the current k-th
// never enters (the k-th has the lower row): the common case is one
// comparison per score.
func (s *search) collect(qi int, scores []float32, base int64) {
	t := s.t
	h := &s.tops[qi]
	self := int64(-1)
	if t.QueryRows != nil {
		self = t.QueryRows[qi]
	}
	if t.QueryLabels != nil {
		ql := t.QueryLabels[qi]
		labels := t.CorpusLabels[base-t.Base:]
		sl := &s.same[qi]
		for j, v := range scores {
			row := base + int64(j)
			if row == self {
				continue
			}
			if labels[j] == ql {
				if sl.Count == 0 || v < sl.Min {
					sl.Min = v
				}
				sl.Count++
				continue
			}
			offer(h, row, v)
		}
		return
	}
	if h.k == 0 {
		return
	}
	for j := 0; j < len(scores); j++ {
		if th, ok := h.threshold(); ok {
			if j += kernel.FirstAtLeast(scores[j:], th); j == len(scores) {
				return
			}
		}
		row := base + int64(j)
		if row == self {
			continue
		}
		offer(h, row, scores[j])
	}
}

// positivesIn returns query qi's positives that lie in the shard, sorted and
// without repeats.
func positivesIn(t *Tile, qi int) []int64 {
	if t.Positives == nil {
		return nil
	}
	var rows []int64
	for _, r := range t.Positives[qi] {
		if r >= t.Base && r < t.Base+int64(t.Corpus.Rows) {
			rows = append(rows, r)
		}
	}
	slices.Sort(rows)
	return slices.Compact(rows)
}

// scoreRows scores query qi against the given global rows of the shard with
// the tile's engine, in place (Engine.Gather), so the scores equal those the
// search computes. The result is in the order of rows.
func (s *search) scoreRows(w, qi int, rows []int64) []Candidate {
	if len(rows) == 0 {
		return nil
	}
	t := s.t
	dim := int64(t.Corpus.Dim)
	lo, hi := slices.Min(rows)-t.Base, slices.Max(rows)-t.Base
	out := make([]Candidate, len(rows))
	if (hi-lo+1)*dim <= math.MaxInt32 {
		data := t.Corpus.Data[lo*dim : (hi+1)*dim]
		idx := make([]int32, len(rows))
		for i, r := range rows {
			idx[i] = int32((r - t.Base - lo) * dim)
		}
		for i, v := range s.gatherScores(w, qi, data, idx) {
			out[i] = Candidate{Row: rows[i], Score: v}
		}
		return out
	}
	// Rows too far apart for 32-bit offsets: one at a time.
	for i, r := range rows {
		v := s.gatherScores(w, qi, t.Corpus.Row(int(r-t.Base)), []int32{0})
		out[i] = Candidate{Row: r, Score: v[0]}
	}
	return out
}

// easy scores query qi's easy draws that lie in the shard and are eligible
// here (not the query itself, not of its label).
func (s *search) easy(w, qi int) []Drawn {
	t := s.t
	if t.EasySeeds == nil || t.EasyDraws <= 0 {
		return nil
	}
	draw := EasyDraw(t.EasySeeds[qi], t.CorpusRows, t.EasyDraws)
	var rows []int64
	var idx []int32
	end := t.Base + int64(t.Corpus.Rows)
	for d, r := range draw {
		if r < t.Base || r >= end {
			continue
		}
		if t.QueryRows != nil && r == t.QueryRows[qi] {
			continue
		}
		if t.QueryLabels != nil && t.CorpusLabels[r-t.Base] == t.QueryLabels[qi] {
			continue
		}
		rows = append(rows, r)
		idx = append(idx, int32(d))
	}
	sc := s.scoreRows(w, qi, rows)
	out := make([]Drawn, len(sc))
	for i, c := range sc {
		out[i] = Drawn{Draw: idx[i], Row: c.Row, Score: c.Score}
	}
	return out
}

// ScoreRows returns the exact scores of query q against the given global
// rows of a shard starting at base, computed by kern (nil: the default) so
// that they equal the scores a search of that shard computes. Rows outside
// the shard are skipped; the result is in the order of rows.
func ScoreRows(q []float32, corpus Matrix, base int64, rows []int64, kern Kernel) []Candidate {
	var in []int64
	for _, r := range rows {
		if r >= base && r < base+int64(corpus.Rows) {
			in = append(in, r)
		}
	}
	t := Tile{Queries: Matrix{Rows: 1, Dim: len(q), Data: q}, Corpus: corpus, Base: base, Kernel: kern, Workers: 1}
	return newSearch(&t, false).scoreRows(0, 0, in)
}
