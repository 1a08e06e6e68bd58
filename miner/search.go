package miner

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

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

	// Kernel computes the inner products; nil means DefaultKernel().
	Kernel Kernel
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

// Query block rows and corpus block rows per step of a worker: a corpus block
// of cb rows stays in cache while qb queries are scored against it.
const (
	qb = 32
	cb = 256
)

func (t *Tile) validate() error {
	if err := t.Queries.Validate(); err != nil {
		return fmt.Errorf("queries: %w", err)
	}
	if err := t.Corpus.Validate(); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	if t.Queries.Rows > 0 && t.Corpus.Rows > 0 && t.Queries.Dim != t.Corpus.Dim {
		return fmt.Errorf("query dimension %d differs from corpus dimension %d", t.Queries.Dim, t.Corpus.Dim)
	}
	if t.K < 0 {
		return fmt.Errorf("k = %d is negative", t.K)
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
	if t.EasySeeds != nil && len(t.EasySeeds) != nq {
		return fmt.Errorf("%d easy seeds for %d queries", len(t.EasySeeds), nq)
	}
	if t.EasySeeds != nil && t.Base+int64(t.Corpus.Rows) > t.CorpusRows {
		return fmt.Errorf("shard rows [%d, %d) lie outside a corpus of %d rows", t.Base, t.Base+int64(t.Corpus.Rows), t.CorpusRows)
	}
	return nil
}

// SearchTile finds, for every query of the tile, the K best corpus items of
// the shard (exact, ties to the lower row), the exact scores of its positives
// and easy draws that live in the shard, and in labeled mode the summary of
// its same-label items. The work is spread over all cores; the result does
// not depend on their number.
func SearchTile(t Tile) ([]Partial, error) {
	if err := t.validate(); err != nil {
		return nil, fmt.Errorf("search tile at row %d: %w", t.Base, err)
	}
	if t.Kernel == nil {
		t.Kernel = kernel.Default
	}
	nq := t.Queries.Rows
	out := make([]Partial, nq)
	workers := t.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chunks := (nq + qb - 1) / qb
	workers = min(workers, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			s := newSearcher(&t)
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				lo, hi := c*qb, min(c*qb+qb, nq)
				s.chunk(lo, hi, out[lo:hi])
			}
		})
	}
	wg.Wait()
	return out, nil
}

// searcher is one worker's scratch space.
type searcher struct {
	t      *Tile
	scores []float32
	heaps  []*topK
	same   []SameLabel
	gather []float32
}

func newSearcher(t *Tile) *searcher {
	return &searcher{t: t, scores: make([]float32, qb*cb), heaps: make([]*topK, qb), same: make([]SameLabel, qb)}
}

// chunk searches queries [lo, hi) of the tile into out.
func (s *searcher) chunk(lo, hi int, out []Partial) {
	t := s.t
	n := hi - lo
	for i := range n {
		s.heaps[i] = newTopK(t.K)
		s.same[i] = SameLabel{}
	}
	q := t.Queries.Slice(lo, hi)
	// With k = 0 and no labels to summarise there is nothing to scan for.
	scanRows := t.Corpus.Rows
	if t.K == 0 && t.QueryLabels == nil {
		scanRows = 0
	}
	for j0 := 0; j0 < scanRows; j0 += cb {
		j1 := min(j0+cb, t.Corpus.Rows)
		m := j1 - j0
		sc := s.scores[:n*m]
		t.Kernel(sc, q.Data, t.Corpus.Data[j0*t.Corpus.Dim:j1*t.Corpus.Dim], n, m, t.Corpus.Dim)
		for i := range n {
			s.collect(lo+i, i, sc[i*m:(i+1)*m], t.Base+int64(j0))
		}
	}
	for i := range n {
		out[i].Top = s.heaps[i].sorted()
		out[i].SameLabel = s.same[i]
		out[i].Positives = s.scoreRows(lo+i, positivesIn(t, lo+i))
		out[i].Easy = s.easy(lo + i)
	}
}

// collect offers one query's scores against corpus rows base, base+1, ...
func (s *searcher) collect(qi, hi int, scores []float32, base int64) {
	t := s.t
	h := s.heaps[hi]
	self := int64(-1)
	if t.QueryRows != nil {
		self = t.QueryRows[qi]
	}
	if t.QueryLabels != nil {
		ql := t.QueryLabels[qi]
		labels := t.CorpusLabels[base-t.Base:]
		sl := &s.same[hi]
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
	for j, v := range scores {
		row := base + int64(j)
		if row == self {
			continue
		}
		offer(h, row, v)
	}
}

// offer pushes (row, v) if it can enter the heap; the inline test keeps the
// common case (a score below the current k-th) cheap.
func offer(h *topK, row int64, v float32) {
	if h.full() {
		if h.k == 0 {
			return
		}
		w := h.h[0]
		if v < w.Score || (v == w.Score && row > w.Row) {
			return
		}
	}
	h.push(Candidate{Row: row, Score: v})
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
// the tile's kernel, so the scores equal those the search computes.
func (s *searcher) scoreRows(qi int, rows []int64) []Candidate {
	if len(rows) == 0 {
		return nil
	}
	t := s.t
	dim := t.Corpus.Dim
	s.gather = s.gather[:0]
	for _, r := range rows {
		s.gather = append(s.gather, t.Corpus.Row(int(r-t.Base))...)
	}
	sc := make([]float32, len(rows))
	t.Kernel(sc, t.Queries.Row(qi), s.gather, 1, len(rows), dim)
	out := make([]Candidate, len(rows))
	for i, r := range rows {
		out[i] = Candidate{Row: r, Score: sc[i]}
	}
	return out
}

// easy scores query qi's easy draws that lie in the shard and are eligible
// here (not the query itself, not of its label).
func (s *searcher) easy(qi int) []Drawn {
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
	sc := s.scoreRows(qi, rows)
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
	if kern == nil {
		kern = kernel.Default
	}
	var in []int64
	for _, r := range rows {
		if r >= base && r < base+int64(corpus.Rows) {
			in = append(in, r)
		}
	}
	t := Tile{Queries: Matrix{Rows: 1, Dim: len(q), Data: q}, Corpus: corpus, Base: base, Kernel: kern}
	s := &searcher{t: &t}
	return s.scoreRows(0, in)
}
