package miner

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"unsafe"

	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// The quantized search (Precision Quantized) scores every pair with the int8
// kernel first and computes the exact score only for the rows that could
// still enter the query's top K.
//
// For a corpus block, every pair's approximate score A and the exact engine's
// score F satisfy |F − A| ≤ B, the block's bound for the query
// (kernel.QuantQueries.Bound proves it), and |F − A| ≤ B_r ≤ B with the
// row's own norms (RowBound). The scan keeps the query's exact top K
// (topK) as the exact search does, with F_k the K-th score it knows of
// (topK.kth: a heap's K-th, or a buffer's K-th at its last compaction; −∞
// until it has one), which only grows. A row with A < F_k − B has
// F ≤ A + B < F_k: K rows offered already are all strictly better, so the
// row is not in the final top K and is skipped. Every other row is scored
// exactly, with the same engine and arithmetic as the exact search, and
// offered to the top K in row order. (A row that passes the scan's test
// against B is also tested against its own B_r, which skips more rows by
// the same argument.) The top K therefore ends holding exactly what the
// exact search's holds, ties included, with the same scores bit for bit:
// every skipped row is outside the exact top K, and the top K of the rows
// offered, a set that holds the exact top K, is the exact top K.
//
// The rows to score are gathered flushAt at a time (kernel.Engine.Gather,
// which scores rows in place with the same per-lane chain of fused
// multiply-adds), while their block is in cache; F_k is refreshed after
// each such batch. The common case costs one float32 comparison per pair, against
// F_k − B rounded down.
//
// The seed. Early in the scan F_k is low (−∞ until K rows are offered),
// and much of what the test above lets through is scored there. So before
// the scan, each query's K rows of largest A in a prefix of the first block
// (seedPrefix: whole sub-blocks, 1/seedShare of the tile at most) are
// scored exactly, and the lowest of these K exact scores is the query's seed
// L; in a tile too small for a prefix, the same is done with the first
// sub-block's scores just before they are scanned (seedFirst). Those are K
// distinct rows of the tile, none the query's own row (self mode), each of
// which the top K accepts (outside labeled mode it takes every row but
// self: positives are removed only later, by Selection.Window, from the
// search's exact top K, which the quantized search must equal), so the
// exact search's final K-th score is at least L, and a row with F < L has K
// rows strictly better and is not in the final top K, whatever its row
// number (ties at L are kept: only F < L is skipped). The scan therefore
// tests against max(F_k, L) instead of F_k: a row is skipped when A < L − B
// (the float32 threshold rounded down, floor32) or A + B_r < L. Tile.Floor
// enters the same maximum (push refuses a score below it; the rows of the
// final top K are at or above it). With fewer than K eligible rows there is
// no seed (L = −∞); with K = 0 nothing is scanned; labeled mode has none.
// Inputs are finite (Matrix.Validate), so no comparison meets a NaN. The
// seed's rows are scored again when the scan reaches them: offering them
// early would need a test against offering a row twice.
//
// Labeled mode needs the exact lowest score among the items sharing the
// query's label: symmetrically, with σ the lowest exact score found so far, an
// item with A − B > σ cannot hold the minimum and is skipped; the others are
// scored exactly.

// qstate is one query's state in a quantized search: its same-label minimum
// (labeled mode) and its seed, a lower bound on the final K-th exact score
// (−∞ when none is known).
type qstate struct {
	min  float32
	has  bool
	seed float64
}

// floor32 returns the largest float32 not above x.
func floor32(x float64) float32 {
	f := float32(x)
	if float64(f) > x {
		f = math.Nextafter32(f, float32(math.Inf(-1)))
	}
	return f
}

// prefilter returns the int8 engine that a search of t scans with, or nil
// and why it runs exact (Report.RanExact; "" when not Quantized or with a
// Kernel of the caller's): no int8 engine on this CPU, data outside the
// bound's range (kernel.QuantSafe, checked with the tile's largest
// magnitudes mags), fewer than minQueries queries, or many rows entering
// the top K (manyEntering).
func (t *Tile) prefilter(mags magnitudes) (*kernel.QEngine, string) {
	qe, scan := quantEngine, t.scanRows()
	switch {
	case t.Precision != Quantized || t.Kernel != nil:
		return nil, ""
	case qe == nil:
		return nil, "no int8 engine"
	case scan > 0 && !kernel.QuantSafe(mags.queries, mags.corpus, t.Corpus.Dim):
		return nil, "data range"
	case t.Queries.Rows < minQueries(qe):
		return nil, "few queries"
	case manyEntering(qe, t, scan):
		return nil, "large k"
	}
	return qe, ""
}

// quantized runs the quantized search with qe (Tile.prefilter).
func (s *search) quantized(qe *kernel.QEngine) {
	t := s.t
	nq, scan := t.Queries.Rows, t.scanRows()
	s.q = make([]qstate, nq)
	for i := range s.q {
		s.q[i].seed = math.Inf(-1)
	}
	s.report.Prefilter = qe.Name
	if scan > 0 {
		done := s.quantScan(qe, scan)
		s.report.Rescored = s.rescored()
		s.report.Checked, _ = s.residualCounts()
		if done < scan {
			s.handOver()
			s.report.GaveUpAt = done
			s.exactFrom(done)
			return
		}
	}
	parallel(s.workers, s.chunks(), func(w, c int) {
		lo, hi := s.chunkRange(c)
		for i := lo; i < hi; i++ {
			s.out[i].Top = s.tops[i].sorted()
			sl := s.same[i]
			if sl.Count > 0 {
				sl.Min = s.q[i].min
			}
			s.out[i].SameLabel = sl
			s.finishQuery(w, i)
		}
	})
}

// Few queries. Before it scans, the prefilter quantizes and packs every
// corpus row of the tile, a pass whose cost does not shrink with the
// queries, while the scan saves a share of the exact search per query. On
// a tile of few queries (a small query_block_rows, a job's last block) the
// pass costs more than the scan saves, so below minQueriesVNNI queries
// (minQueriesAVX2 for the avx2 int8 engine, which saves less per query)
// the tile runs exact. Measured with cmd/bench, the first n queries of
// d = 768 against 200,000 rows, k = 100, on a Zen 4: exact was faster up to
// 128 queries with avx512vnni and 192 was even; with the avx2 int8 engine
// up to 256, 384 even, 512 faster quantized (with its two-step kernel, on a
// Zen 5: 256 even, 384 faster by 12–15%; with its four-step kernel and
// queries of up to 127 levels, on a Zen 5 in AVX2-only mode, fastest of 5:
// 128 and 192 even, 256 faster by 16% at d = 768 and 17% at d = 384, 384
// by 21–22%). Tests set both to 0 to run the prefilter on small tiles.
var minQueriesVNNI, minQueriesAVX2 = 192, 192

// minQueries is the fewest queries of a tile that int8 engine qe scans.
func minQueries(qe *kernel.QEngine) int {
	if qe.Name == "avx2" {
		return minQueriesAVX2
	}
	return minQueriesVNNI
}

// Many rows entering. Whatever the prefilter, the rows that enter a
// query's top K during the scan are scored exactly: of n rows in random
// order about K·(1 + ln(n/K)) (entering). The exact search scores them
// with all the others in its panel kernel; the prefilter scores them one
// by one (Gather, about ten times the panel kernel's cost per pair on
// AVX-512), on top of its int8 pass. Where those rows are a large share of
// the tile, a large K beside the tile's rows, the exact search is faster.
// Measured with cmd/bench (4,000 × 200,000 at d = 384, 10,000 × 200,000 at
// d = 768, 5,000 × 25,000 at d = 256; k from 10 to 2,000; a Zen 5), the
// two were even at an entering share of about 2% with avx512vnni, 4% with
// avxvnni beside the avx2 engine, and 0.9% (d = 768) to 1.6% (d = 384) with
// the avx2 int8 engine; below it the prefilter was up to 1.8 times faster,
// above it up to 1.4 times slower. The avx2 engine's four-step kernel and
// 127-level queries moved its crossing (1,000 × 200,000, k = 300 to 2,000,
// fastest of 3, AVX2 only): quantized 14% faster at a share of 1.75% at
// d = 768 and slower by 10% at 3.15%, even at 3.15% at d = 384; so 2%.
// A tile with floors (Tile.Floor, from
// earlier tiles of its queries) lets in only the rows above them, far
// fewer, so the rule is for tiles without. The tests turn it off
// (enteringRule) to run the prefilter on their small tiles.
var (
	maxEntering  = map[string]float64{"avx512vnni": 0.02, "avxvnni": 0.04, "avx2": 0.02}
	enteringRule = true
)

// maxEnteringOther is maxEntering for an engine it does not list (arm64's
// neon-sdot, not measured: a dot-product instruction as VNNI's).
const maxEnteringOther = 0.02

// manyEntering reports whether the tile's rows expected to enter its top K
// (entering, without the seed's) are more than qe's maxEntering share of
// the scan rows, for a tile where fewer than half the queries have a floor.
func manyEntering(qe *kernel.QEngine, t *Tile, scan int) bool {
	if !enteringRule || scan == 0 || t.K == 0 {
		return false
	}
	floors := 0
	for _, f := range t.Floor {
		if !math.IsNaN(float64(f)) {
			floors++
		}
	}
	if 2*floors >= t.Queries.Rows {
		return false
	}
	limit, ok := maxEntering[qe.Name]
	if !ok {
		limit = maxEnteringOther
	}
	in := entering(t.K, 0, scan) - int64(t.K) // without the seed's K
	return float64(in) > limit*float64(scan)
}

// quantPass is what the work items of a quantized scan share.
type quantPass struct {
	qe         *kernel.QEngine
	z          *kernel.QuantQueries
	qb         kernel.QuantBlock // the corpus block being scanned
	subPanels  int               // panels of an L2-sized sub-block
	seedPanels int               // panels of the first block that seed the queries (0: none)
	apart      []int             // dimensions scored apart in float (outlierDims)
	qApart     []float32         // the queries' values in them, row-major
	// The block's values in them, row-major and packed (packApart).
	apartCols, apartPacked []float32
}

// The prefilter pays only where it skips most rows. On data whose
// quantization error is large beside the spread of the scores (embeddings
// with a large common component and more outlier dimensions than
// outlierDims takes apart) its bound lets most rows through, and scoring
// them one by one (Gather) costs several times the exact search's panel
// kernel: a quantized search of such data (three outlier dimensions, before
// they were taken apart) measured 3.4-5.8 times slower than the exact one
// (docs/performance.md). So the scan stops after any block of which more
// than 1/giveUpShare of the pairs (more early in the scan: allowedShare)
// were scored exactly, and the exact
// search carries on from the next row: its top K holds the K
// best of the rows scanned so far (every row skipped has K better rows
// among them), which is where the exact search would stand, so the result
// is the same. Only the rows beyond those that enter the heaps on any data
// count (entering), and only once the heaps have seen judgeAfter·K rows:
// on random data 3-10% of the first block's rows are rescored against
// about 1% over the whole scan, as the heaps fill; on the outlier data
// above the share was 47-75% in every block. At 1/10 the rescoring costs
// about what the int8 pass saves (Gather scores a row at about a fifth of
// the panel kernel's speed; the int8 pass costs about half the exact one on
// AVX2, a third with VNNI). A tile of fewer than two blocks is scanned in
// two halves (whole sub-blocks), so that it too is judged before its end,
// where the first half is large enough to be judged (judgeAfter). Tests
// turn giveUp off to count what the seeds save on their own.
const giveUpShare = 10

var giveUp = true

// judgeAfter: a block is judged only once the heaps have seen judgeAfter·K
// rows. Before that their K-th score is still low, and many rows lie within
// the bound of it whatever the data. That holds, less, for many blocks
// after: the K-th score rises with the rows seen, and where it is lower the
// rows are denser, so the bound's band holds more of them. On random data
// with the avx2 int8 engine's wide bound, K = 100, the blocks' shares
// (rescored beyond entering, over the block's pairs) fell as a power of the
// rows seen, e^-0.6 to e^-0.75 at d = 1024 and 1536: at d = 1536 24%, 19%,
// 15%, 13% … 9% by row 26,400, 5.7% over the scan, which ran in 20.8 s
// where the exact search takes 27 (allowedShare).
const judgeAfter = 8

// giveUpEarly: a block of which more than 1/giveUpEarly of the pairs were
// rescored gives up wherever it lies in the scan; data on which the
// prefilter fails rescored 47-75% of every block.
const giveUpEarly = 2

// allowedShare is the share of a block's pairs, ending at row end of a scan
// of scan rows, that the scan may rescore (beyond entering) before it gives
// up: the share s for which the rest of the scan would rescore
// 1/giveUpShare of its pairs on average were the shares of the blocks after
// it to fall as (x/end)^-½ from s, more slowly than they do where the
// prefilter works. That mean is s·2/(1 + √(scan/end)), so the allowance is
// (1 + √(scan/end))/(2·giveUpShare), at most 1/giveUpEarly: early blocks of
// a long scan may rescore more, a block near its end 1/giveUpShare. (A
// fixed curve in K, at most 8·K/end, gave up after the second block of
// 5,280 rows at d = 1536, which rescored 24%.)
func allowedShare(end, scan int) float64 {
	a := (1 + math.Sqrt(float64(scan)/float64(end))) / (2 * giveUpShare)
	return min(1/float64(giveUpEarly), a)
}

// quantScan scans the first scan corpus rows with qe, block by block, and
// returns how many it scanned: fewer than scan when a block let through so
// many rows that the exact search is cheaper for the rest.
func (s *search) quantScan(qe *kernel.QEngine, scan int) int {
	t, dim := s.t, s.t.Corpus.Dim
	sub, block := blocking((dim+3)&^3, kernel.QuantPanel)
	if scan < 2*block && scan/2 >= judgeAfter*t.K { // in two, to judge the first (giveUpShare)
		block = max(sub, (scan/2+sub-1)/sub*sub)
	}
	qp := s.newQuantPass(qe, scan)
	s.qp = qp
	qp.subPanels = sub / kernel.QuantPanel
	// The seed's prefix: whole sub-blocks of the first block, at most
	// 1/seedShare of the scan, with room for K rows seedRoom times over.
	qp.seedPanels = min(block, scan/seedShare) / sub * qp.subPanels
	if !seeds || t.QueryLabels != nil || t.K == 0 || qp.seedPanels*kernel.QuantPanel < seedRoom*t.K {
		qp.seedPanels = 0
	}
	for b0 := 0; b0 < scan && !s.stopped(); b0 += block {
		n := min(block, scan-b0)
		data := t.Corpus.Data[b0*dim : (b0+n)*dim]
		s.packQuant(&qp.qb, qp.qe.Format(), data, n, qp.subPanels)
		if qp.apart != nil {
			s.packApart(qp, data, n)
		}
		before := s.rescored() + entering(t.K, b0, n)*int64(t.Queries.Rows)
		// Work items are groups of chunks, as in the exact search.
		starts := s.groups()
		parallel(s.workers, len(starts)-1, func(w, g int) {
			s.scanGroup(w, qp, starts[g], starts[g+1], b0, data)
		})
		if b0 == 0 {
			s.judgeResidual(qp)
		}
		if giveUp && b0+n >= judgeAfter*t.K && float64(s.rescored()-before) > allowedShare(b0+n, scan)*float64(n)*float64(t.Queries.Rows) {
			return b0 + n
		}
	}
	return scan
}

// entering is how many rows per query the block of rows [b0, b0+n) may
// rescore before the scan judges it, whatever the prefilter: the rows that
// enter a heap of K there when the rows come in random order (the i-th row
// enters with probability min(1, K/i): K·ln((b0+n)/b0) past the first K
// rows), and in the first block K more for the seed. With K = 1000 the
// second block of 5,280 rows takes 13% of its rows into the heaps, which
// the exact search must take too; it is not the prefilter failing.
func entering(k, b0, n int) int64 {
	if k == 0 {
		return 0
	}
	e := float64(max(0, min(k, b0+n)-b0)) // rows among the first K
	if lo := max(b0, k); b0+n > lo {
		e += float64(k) * math.Log(float64(b0+n)/float64(lo))
	}
	if b0 == 0 {
		e += float64(k)
	}
	return int64(e)
}

// residualCheck turns the residual check on where the int8 engine's format
// takes it (kernel.ResidualApplies: the avx2 engine's, whose queries may
// have fewer levels, QueryLaneSum, and so a wider error), the dimension is at least
// residualMinDim, and outside labeled mode, whose rows of the query's label
// are not candidates of the top K. Tests turn it off to compare, and lower
// residualMinDim.
//
// A check reads a quarter of the bytes a rescoring does, but with the
// check each rescoring cost more (at d = 768 82 ns a row without it, 125 ns
// with it: the blocks' row-major copies in L3, probably), so it pays only
// where rows are long and it spares most of the rows it checks. On
// cmd/bench's data (10,000 × 200,000, k = 100, the avx2 engines, this
// repository's builds with and without it alternated): d = 384, random,
// rescored 22.8M → 11.7M rows, 2-4% slower; d = 768 random 46.8M → 18.2M,
// even; anisotropic 18.4M → 11.2M and clustered 38.9M → 16.0M, 3-7%
// slower; d = 1000 (4,000 × 100,000) 19.7M → 7.4M, 8% faster; d = 1024 4-5%
// faster; d = 1536 113M → 32M, 15% faster (docs/performance.md).
//
// What it spares depends on the data too: on random rows, whose bound's
// query term is about half of it, 57-59% of the rows it checks in the first
// blocks at d = 1536 (72% over the scan); on the anisotropic rows, whose
// corpus is centered (a smaller query term), 25-26% at d = 1536 and 18-19%
// at d = 4096, where it was even and 5% slower. So a scan whose first
// block's check spared fewer than residualKeep of its rows goes on without
// it (judgeResidual).
var (
	residualCheck  = true
	residualMinDim = 1000
	residualKeep   = 0.45
)

// newQuantPass quantizes the tile's queries for qe, with the outlier
// dimensions of the first scan corpus rows and the queries apart.
func (s *search) newQuantPass(qe *kernel.QEngine, scan int) *quantPass {
	t, dim := s.t, s.t.Corpus.Dim
	qp := &quantPass{qe: qe, apart: outlierDims(t.Queries, t.Corpus.Data[:scan*dim], s.workers)}
	qp.z = kernel.QuantizeQueriesApart(t.Queries.Data, t.Queries.Rows, dim, qe.Format(), qp.apart)
	if residualCheck && dim >= residualMinDim && kernel.ResidualApplies(qe.Format()) && t.QueryLabels == nil {
		qp.z.AddResidual(t.Queries.Data)
		qp.qb.KeepRows = true
	}
	qp.qb.Apart = qp.apart
	if qp.apart != nil {
		qp.qApart = columns(t.Queries.Data, dim, qp.apart, nil)
	}
	if mu := corpusCenter(t.Corpus.Data[:scan*dim], dim, qp.apart); mu != nil {
		qp.qb.Center = mu
		qp.z.CenterOn(t.Queries.Data, mu)
	}
	return qp
}

// shift returns query i's shift: what its approximate scores lack where
// the corpus is centered (corpusCenter), else 0.
func (qp *quantPass) shift(i int) float64 {
	if qp.z.Shift == nil {
		return 0
	}
	return qp.z.Shift[i]
}

// A common component. The embeddings of many models share a large common
// component (a mean direction): scores crowd around one value, and the
// prefilter's bound, which grows with ‖c‖ and max|c_k|, is wide beside
// their spread. Quantizing c − μ instead, μ the corpus's mean, shrinks both
// (kernel: A centered corpus). On rows 1 + 0.5·N(0, 1) per dimension
// (three outlier dimensions apart), d = 384, numpy on 200 × 50,000 put the
// rows no bound could exclude at 0.51% of the pairs against 1.02% with 127
// levels, 1.13% against 3.08% with the avx2 engine's. The mean is taken
// over at most centerSample rows spread through the scan; the corpus is
// centered where ‖μ‖² is at least 1/centerShare of the mean ‖c‖² (over
// the dimensions quantized), so that random data, whose mean is near 0,
// runs as before. Tests set centerShare to 0 to turn it off.
var centerSample, centerShare = 4096, 16

// corpusCenter returns the mean μ of the rows c (dimension dim) over the
// dimensions not apart (zero at those), or nil where the corpus should not
// be centered.
func corpusCenter(c []float32, dim int, apart []int) []float32 {
	n := len(c) / dim
	if centerShare == 0 || n == 0 {
		return nil
	}
	step, rows := max(1, n/centerSample), 0
	sum, sq := make([]float64, dim), make([]float64, dim)
	for r := 0; r < n; r += step {
		for k, v := range c[r*dim : (r+1)*dim] {
			sum[k] += float64(v)
			sq[k] += float64(v) * float64(v)
		}
		rows++
	}
	for _, k := range apart {
		sum[k], sq[k] = 0, 0
	}
	mu := make([]float32, dim)
	var mean2, energy float64 // ‖μ‖², the mean ‖c‖²
	for k := range sum {
		m := sum[k] / float64(rows)
		mu[k] = float32(m)
		mean2 += m * m
		energy += sq[k] / float64(rows)
	}
	if mean2*float64(centerShare) < energy {
		return nil
	}
	return mu
}

// Outlier dimensions. Many embedding models give a few dimensions values
// many times larger than the rest's, in every row. Quantized with them, a
// row's scale leaves the other dimensions a few levels, and the
// prefilter's bound lets most rows through (on data with three such
// dimensions at 12 times the rest, d = 768: 61% of the pairs against 2.8%
// with them apart, numpy on 200 × 50,000). So the dimensions whose largest
// magnitude (over queries and corpus) is more than outlierRatio times the
// median dimension's are scored apart, in float with the exact engine, at
// most maxOutliers of them (the largest): the int8 pass skips them
// (kernel.QuantizeQueriesApart, "Dimensions apart" in kernel/quant.go,
// which extends the bound). Tests set maxOutliers to 0 to quantize every
// dimension.
var (
	outlierRatio float32 = 4
	maxOutliers          = 8
)

// outlierDims returns the outlier dimensions of the queries q and the
// corpus rows c, in increasing order, or nil. Magnitudes are compared as
// the bits of |x|, which order as the values do (the tile holds no NaN).
func outlierDims(q Matrix, c []float32, workers int) []int {
	dim := q.Dim
	peak := make([]uint32, dim)
	peakOf(peak, q.Data)
	peaks := make([][]uint32, workers)
	rows := len(c) / dim
	step := (rows + workers - 1) / workers
	parallel(workers, workers, func(_, i int) {
		peaks[i] = make([]uint32, dim)
		peakOf(peaks[i], c[min(rows, i*step)*dim:min(rows, (i+1)*step)*dim])
	})
	mags := make([]float32, dim)
	for k := range mags {
		for _, p := range peaks {
			peak[k] = max(peak[k], p[k])
		}
		mags[k] = math.Float32frombits(peak[k])
	}
	return largest(mags, outlierRatio, maxOutliers)
}

// peakOf raises peak[k] to the bits of the largest |x| of dimension k of
// the row-major rows x.
func peakOf(peak []uint32, x []float32) {
	dim := len(peak)
	for r := 0; r+dim <= len(x); r += dim {
		for k, v := range x[r : r+dim] {
			peak[k] = max(peak[k], math.Float32bits(v)&^(1<<31))
		}
	}
}

// largest returns, in increasing order, the indices of the at most n
// largest values of peak above ratio times its median, or nil.
func largest(peak []float32, ratio float32, n int) []int {
	order := make([]int, len(peak))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(peak[b], peak[a]) })
	median := peak[order[len(order)/2]]
	var out []int
	for _, k := range order[:min(n, len(order))] {
		if peak[k] > ratio*median {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// columns appends to dst the values of the given columns of the row-major
// rows x (dimension dim), row by row.
func columns(x []float32, dim int, cols []int, dst []float32) []float32 {
	for r := 0; r+dim <= len(x); r += dim {
		for _, k := range cols {
			dst = append(dst, x[r+k])
		}
	}
	return dst
}

// rescored returns the rows the quantized scan has scored exactly so far.
func (s *search) rescored() int64 {
	var n int64
	for i := range s.scratch {
		n += s.scratch[i].rescored
	}
	return n
}

// handOver moves what the quantized scan keeps apart from the exact search
// into the exact search's place: each query's same-label minimum (labeled
// mode; the counts are kept in s.same already).
func (s *search) handOver() {
	for i := range s.q {
		if s.q[i].has {
			s.same[i].Min = s.q[i].min
		}
	}
}

// packQuant quantizes and packs the n rows data into qb in format f, a
// sub-block of subPanels panels per work item, and records the block's
// largest norms.
func (s *search) packQuant(qb *kernel.QuantBlock, f kernel.QuantFormat, data []float32, n, subPanels int) {
	qb.Reset(n, s.t.Corpus.Dim, f)
	norms := make([]kernel.Norms, s.workers)
	parallel(s.workers, (qb.Panels()+subPanels-1)/subPanels, func(w, j int) {
		p0, p1 := j*subPanels, min(j*subPanels+subPanels, qb.Panels())
		norms[w] = norms[w].Max(qb.PackPanels(data, p0, p1))
	})
	var all kernel.Norms
	for _, nm := range norms {
		all = all.Max(nm)
	}
	qb.SetNorms(all)
}

// scanGroup scans the block qp.qb, whose rows are data and start at tile
// row b0, for the queries of chunks [c0, c1): each L2-sized sub-block is
// scored with the int8 kernel for every chunk of the group, and the rows
// that could still count are scored exactly.
func (s *search) scanGroup(w int, qp *quantPass, c0, c1, b0 int, data []float32) {
	t, z, qb, sc := s.t, qp.z, &qp.qb, &s.scratch[w]
	glo, _ := s.chunkRange(c0)
	_, ghi := s.chunkRange(c1 - 1)
	sc.bounds = grow(sc.bounds, ghi-glo)
	sc.coefs = grow(sc.coefs, ghi-glo)
	for i := glo; i < ghi; i++ {
		c := z.Coefs(i)
		sc.coefs[i-glo], sc.bounds[i-glo] = c, c.Of(qb.MaxNorms()) // z.Bound(i, qb)
	}
	sc.pend = grow(sc.pend, ghi-glo)
	base := t.Base + int64(b0)
	collect := func(i, r0 int, approx []float32) {
		rb := &rowBounds{sc.coefs[i-glo], qb.RowNorms}
		s.collectQuant(w, i, &sc.pend[i-glo], approx, data, r0, base, qp.shift(i), sc.bounds[i-glo], rb)
	}
	from := 0 // the first panel left to scan
	if b0 == 0 && qp.seedPanels > 0 && s.seedPrefix(w, qp, data, glo, ghi, collect) {
		from = qp.seedPanels
	}
	s.scoreSubBlocks(w, qp, glo, ghi, s.chunk, from, qb.Panels(), collect)
	for i := glo; i < ghi; i++ {
		s.flush(w, i, &sc.pend[i-glo], data, base)
	}
}

// collectQuant records query qi's rows that could enter its top K (or hold
// its same-label minimum) in its pending lists p, scoring and offering them
// whenever flushAt are pending. approx[j] + shift is the approximate score
// of row r0+j of the block whose rows are data, starting at global row
// base (shift: the query's, where the corpus is centered, else 0); b is the
// block's bound for the query. The caller flushes p at the end of the
// block.
func (s *search) collectQuant(w, qi int, p *pending, approx, data []float32, r0 int, base int64, shift, b float64, rb *rowBounds) {
	t, h, st := s.t, &s.tops[qi], &s.q[qi]
	dim := t.Corpus.Dim
	self := int64(-1)
	if t.QueryRows != nil {
		self = t.QueryRows[qi]
	}
	thresholds := func() (thr float32, sigma float64) {
		thr = float32(math.Inf(-1))
		kth, known := h.kth()
		switch {
		case h.k == 0:
			thr = float32(math.Inf(1))
		case known:
			thr = floor32(float64(kth) - shift - b)
		}
		sigma = math.Inf(1)
		if st.has {
			sigma = float64(st.min)
		}
		return thr, sigma
	}
	if t.QueryLabels == nil {
		s.collectTop(w, qi, p, approx, data, r0, base, self, shift, b, rb)
		return
	}
	thr, sigma := thresholds()
	labels := t.CorpusLabels[base-t.Base+int64(r0):]
	ql := t.QueryLabels[qi]
	for j, a32 := range approx {
		a := float64(a32) + shift
		switch {
		case base+int64(r0+j) == self:
			continue
		case labels[j] == ql:
			s.same[qi].Count++
			if a-b > sigma || a-rb.of(r0+j) > sigma {
				continue
			}
			p.same = append(p.same, int32((r0+j)*dim))
		case a32 >= thr && !h.below(a+rb.of(r0+j)):
			p.top = append(p.top, int32((r0+j)*dim))
		default:
			continue
		}
		if len(p.top)+len(p.same) >= flushAt {
			s.flush(w, qi, p, data, base)
			thr, sigma = thresholds()
		}
	}
}

// collectTop is collectQuant outside labeled mode: it records the rows that
// could enter query qi's top K, self (the query's own row, or −1) excepted.
func (s *search) collectTop(w, qi int, p *pending, approx, data []float32, r0 int, base, self int64, shift, b float64, rb *rowBounds) {
	h, st := &s.tops[qi], &s.q[qi]
	if h.k == 0 {
		return
	}
	if seeds && math.IsInf(st.seed, -1) && base == s.t.Base && r0 == 0 {
		s.seedFirst(w, qi, approx, data, self-base) // no prefix seed
	}
	// lower is the score a row must be able to reach: the K-th the top K
	// knows of, the seed, the tile's floor, whichever is highest.
	lower := func() float64 {
		l := st.seed
		if kth, ok := h.kth(); ok {
			l = max(l, float64(kth))
		}
		if h.hasFloor {
			l = max(l, float64(h.floor))
		}
		return l
	}
	l := lower() - shift // what approx itself must reach
	thr := floor32(l - b)
	sc := &s.scratch[w]
	sc.marks = grow(sc.marks, (len(approx)+63)/64)
	kernel.AtLeast(sc.marks, approx, thr)
	if s.qp != nil && s.qp.checking() {
		// The candidates first, then the check, then the rows it leaves.
		s.candidates(sc, approx, r0, base, self, l, rb)
		s.narrow(sc, qi, r0, approx, l)
		for i, j := range sc.cand {
			if sc.reach[i] < l {
				continue // passed over as below
			}
			p.top = append(p.top, int32((r0+int(j))*s.t.Corpus.Dim))
			if len(p.top) >= flushAt {
				s.flush(w, qi, p, data, base)
				l = lower() - shift
			}
		}
		return
	}
	// A flush raises l and thr: rows marked before it and now below thr
	// are passed over (their own bound, at most b, would exclude them too).
	for k, m := range sc.marks {
		for ; m != 0; m &= m - 1 {
			j := k*64 + bits.TrailingZeros64(m)
			if approx[j] < thr || base+int64(r0+j) == self || float64(approx[j])+rb.of(r0+j) < l {
				continue // the row's own, smaller bound excludes it
			}
			p.top = append(p.top, int32((r0+j)*s.t.Corpus.Dim))
			if len(p.top) >= flushAt {
				s.flush(w, qi, p, data, base)
				l = lower() - shift
				thr = floor32(l - b)
			}
		}
	}
}

// candidates lists in sc.cand the rows marked in sc.marks (rows r0+j of the
// block, approx their approximate scores) that their own bound lets reach
// l, self (the query's own row) excepted, and in sc.reach the most their
// exact scores (less the shift) can be. The residual check runs on them
// before any is rescored (collectTop).
func (s *search) candidates(sc *scratch, approx []float32, r0 int, base, self int64, l float64, rb *rowBounds) {
	sc.cand, sc.reach = sc.cand[:0], sc.reach[:0]
	for k, m := range sc.marks {
		for ; m != 0; m &= m - 1 {
			j := k*64 + bits.TrailingZeros64(m)
			if reach := float64(approx[j]) + rb.of(r0+j); reach >= l && base+int64(r0+j) != self {
				sc.cand, sc.reach = append(sc.cand, int32(j)), append(sc.reach, reach)
			}
		}
	}
}

// judgeResidual turns the residual check off for the rest of the scan when
// it spared fewer than residualKeep of the rows it checked in the first
// block.
func (s *search) judgeResidual(qp *quantPass) {
	if checked, spared := s.residualCounts(); float64(spared) < residualKeep*float64(checked) {
		qp.qb.KeepRows = false
	}
}

// checking reports whether the residual check runs: its blocks keep their
// rows for it (newQuantPass), until judgeResidual stops it.
func (qp *quantPass) checking() bool { return qp.qb.KeepRows }

// residualCounts returns the pairs the residual check looked at and those
// it spared rescoring, over all workers.
func (s *search) residualCounts() (checked, spared int64) {
	for i := range s.scratch {
		checked += s.scratch[i].checked
		spared += s.scratch[i].spared
	}
	return checked, spared
}

// narrow lowers the reach of query qi's candidates (sc.cand: rows r0+j of
// the block, approx their approximate scores) to what the residual check
// allows (kernel: The residual check), where that is lower, and counts the
// candidates checked and those it spares (their reach now below l).
func (s *search) narrow(sc *scratch, qi, r0 int, approx []float32, l float64) {
	if len(sc.cand) == 0 {
		return
	}
	z, qb := s.qp.z, &s.qp.qb
	sc.offs = sc.offs[:0]
	for _, j := range sc.cand {
		sc.offs = append(sc.offs, (int32(r0)+j)*int32(qb.RowStride))
	}
	sc.dots = grow(sc.dots, len(sc.offs))
	kernel.ResidualDots(sc.dots, z.ResidualRow(qi), qb.RowMajor, sc.offs)
	c := z.ResidualCoefs(qi)
	for i, j := range sc.cand {
		r := r0 + int(j)
		reach := float64(approx[j]) + z.ResidualValue(qi, sc.dots[i], qb.Scale[r]) + c.Of(qb.RowNorms[r])
		if reach < l && sc.reach[i] >= l {
			sc.spared++
		}
		sc.reach[i] = min(sc.reach[i], reach)
	}
	sc.checked += int64(len(sc.cand))
}

// The seed's prefix is at most 1/seedShare of the scan (where its
// approximate scores cannot be kept, prefixKeep, they are computed twice:
// 1/16 adds at most 6% to the int8 work; the seed cuts the rows scored
// exactly by 37% at d = 384 and 25% at d = 768 on cmd/bench's data, 200,000
// rows, k = 100), and holds at least seedRoom·K rows (fewer give a weak
// seed). Tests change them, and turn seeds off to count what they save.
var (
	seedShare, seedRoom = 16, 4
	seeds               = true
)

// scoreSubBlocks scores queries [lo, hi) against panels [from, panels) of
// qp.qb with the int8 engine, one L2-sized sub-block at a time (from a
// multiple of qp.subPanels), step queries of them at a time against it, and
// calls f with each query's approximate scores of the sub-block's rows,
// which start at block row r0 (valid until f returns).
func (s *search) scoreSubBlocks(w int, qp *quantPass, lo, hi, step, from, panels int, f func(i, r0 int, approx []float32)) {
	sc, qb := &s.scratch[w], &qp.qb
	for p0 := from; p0 < panels; p0 += qp.subPanels {
		p1 := min(p0+qp.subPanels, panels)
		ldd := (p1 - p0) * kernel.QuantPanel
		r0 := p0 * kernel.QuantPanel
		m := min(ldd, qb.Rows-r0)
		for q0 := lo; q0 < hi; q0 += step {
			q1 := min(q0+step, hi)
			sc.approx = grow(sc.approx, (q1-q0)*ldd)
			qp.qe.Scores(sc.approx, ldd, qp.z, q0, q1-q0, qb, p0, p1)
			if qp.apart != nil {
				s.addApart(w, qp, q0, q1, ldd, r0, m)
			}
			for i := q0; i < q1; i++ {
				f(i, r0, sc.approx[(i-q0)*ldd:(i-q0)*ldd+m])
			}
		}
	}
}

// packApart packs the values of the dimensions apart of the block's n rows
// data for the exact engine, once per block (every group of queries reads
// them).
func (s *search) packApart(qp *quantPass, data []float32, n int) {
	e, dim, na := s.eng, s.t.Corpus.Dim, len(qp.apart)
	qp.apartCols = columns(data[:n*dim], dim, qp.apart, qp.apartCols[:0])
	qp.apartPacked = grow(qp.apartPacked, e.PackedLen(n, na))
	e.Pack(qp.apartPacked, qp.apartCols, n, na)
}

// addApart adds to the approximate scores of queries [lo, hi) (rows of
// ldd in worker w's approx) against the block's rows [r0, r0+m) their exact
// scores over the dimensions apart (packed by packApart; r0 is a multiple of
// QuantPanel, so of every engine's panel), rounded to float32 as
// "Dimensions apart" in kernel/quant.go assumes.
func (s *search) addApart(w int, qp *quantPass, lo, hi, ldd, r0, m int) {
	sc, e, na := &s.scratch[w], s.eng, len(qp.apart)
	lds := e.Padded(m)
	sc.apartScores = grow(sc.apartScores, (hi-lo)*lds)
	e.Scores(sc.apartScores, lds, qp.qApart[lo*na:hi*na], hi-lo, na, qp.apartPacked[r0*na:], m)
	for i := range hi - lo {
		a, p := sc.approx[i*ldd:i*ldd+m], sc.apartScores[i*lds:i*lds+m]
		for j := range a {
			a[j] += p[j]
		}
	}
}

// seedPrefix sets the seeds of queries [lo, hi) from the first
// qp.seedPanels panels of qp.qb, the tile's first block, whose rows are
// data: it finds each query's K rows of largest approximate score there,
// the query's own row excepted, scores them exactly, and takes the lowest
// of those exact scores. Where it can keep the prefix's scores of
// prefixQueries queries at a time (its share of prefixKeep), it then hands
// them to collect, sub-block by sub-block, as scoreSubBlocks would, and
// reports that the scan may start after the prefix.
func (s *search) seedPrefix(w int, qp *quantPass, data []float32, lo, hi int, collect func(i, r0 int, approx []float32)) (collected bool) {
	sc, k := &s.scratch[w], s.t.K
	rows, sub := qp.seedPanels*kernel.QuantPanel, qp.subPanels*kernel.QuantPanel
	// Pieces of step queries, scored step at a time; or, where the scores
	// are not kept, all the queries, scored a chunk at a time as the scan
	// scores them.
	step := min(s.chunk, prefixKeep/s.workers/(4*rows))
	keep := step >= prefixQueries
	piece := step
	if !keep {
		piece, step = hi-lo, s.chunk
	}
	sc.seedBuf = grow(sc.seedBuf, piece*2*k)
	sc.seedTop = grow(sc.seedTop, piece)
	if keep {
		sc.prefix = grow(sc.prefix, piece*rows)
	}
	for q0 := lo; q0 < hi; q0 += piece {
		q1 := min(q0+piece, hi)
		for i := range q1 - q0 {
			sc.seedTop[i] = topRows{buf: sc.seedBuf[i*2*k : (i+1)*2*k], thr: float32(math.Inf(-1))}
		}
		s.scoreSubBlocks(w, qp, q0, q1, step, 0, qp.seedPanels, func(i, r0 int, approx []float32) {
			if keep {
				copy(sc.prefix[(i-q0)*rows+r0:], approx)
			}
			sc.seedTop[i-q0].add(approx, r0, s.selfRow(i), k)
		})
		for i := q0; i < q1; i++ {
			s.seedFrom(w, i, sc.seedTop[i-q0].top(k), data)
			if keep {
				a := sc.prefix[(i-q0)*rows : (i-q0+1)*rows]
				for r0 := 0; r0 < rows; r0 += sub {
					collect(i, r0, a[r0:min(r0+sub, rows)])
				}
			}
		}
	}
	return keep
}

// The seed's prefix is scored once where a worker can keep its scores of
// at least prefixQueries queries (fewer would run the int8 kernel below its
// micro-tile's rows) in its share of prefixKeep bytes, which the search's
// workers split: on 2 cores whole chunks of 48 queries for prefixes of up
// to 21,845 rows (d = 384's is 10,240 rows, d = 128's 12,288), on 16
// cores 12 queries at d = 384 and 25 at d = 768. Elsewhere (long
// prefixes, many cores) it is scored twice, which costs at most
// 1/seedShare more int8 work. Scoring it once made the AVX2 quantized
// search about 3% faster at d = 384 and 768, the VNNI one 2-5%
// (docs/performance.md). Split so, the search never holds more than 8 MiB
// for it, whatever the cores, beside the 64 MiB of overhead in a tile's
// memory estimate. Tests change prefixKeep to take each path.
var prefixKeep = 8 << 20

const prefixQueries = 12

// selfRow is query qi's own row in the tile's corpus, counted from the
// tile's first row, or -1 (not self mode).
func (s *search) selfRow(qi int) int64 {
	if s.t.QueryRows == nil {
		return -1
	}
	return s.t.QueryRows[qi] - s.t.Base
}

// seedFrom sets query qi's seed to the lowest exact score of the rows top
// of the block whose rows are data (none: no seed).
func (s *search) seedFrom(w, qi int, top []approxRow, data []float32) {
	if len(top) == 0 {
		return
	}
	sc, dim := &s.scratch[w], s.t.Corpus.Dim
	idx := sc.seedIdx[:0]
	for _, a := range top {
		idx = append(idx, a.row()*int32(dim))
	}
	sc.seedIdx = idx
	sc.rescored += int64(len(idx))
	s.q[qi].seed = float64(slices.Min(s.gatherScores(w, qi, data, idx)))
}

// seedFirst sets query qi's seed as seedPrefix does, from the approximate
// scores of the tile's first sub-block alone, which the scan has just
// computed: the lowest exact score of its K rows of largest A, row skip (the
// query's own) excepted. It serves tiles too small for a prefix.
func (s *search) seedFirst(w, qi int, approx, data []float32, skip int64) {
	sc, k := &s.scratch[w], s.t.K
	if len(approx) < k {
		return
	}
	sc.seedBuf = grow(sc.seedBuf, 2*k)
	tr := topRows{buf: sc.seedBuf, thr: float32(math.Inf(-1))}
	tr.add(approx, 0, skip, k)
	s.seedFrom(w, qi, tr.top(k), data)
}

// approxRow is a row of a block and its approximate score, packed into a
// key that orders as the score (orderedBits, high 32 bits; then the row), so
// that topRows selects with selectKeys.
type approxRow uint64

func newApproxRow(a float32, row int32) approxRow {
	return approxRow(uint64(orderedBits(math.Float32bits(a)))<<32 | uint64(uint32(row)))
}

// score returns the approximate score.
func (r approxRow) score() float32 { return math.Float32frombits(floatBits(uint32(r >> 32))) }

// row returns the block row.
func (r approxRow) row() int32 { return int32(uint32(r)) }

// topRows finds k rows of largest approximate score (ties either way) among
// those added: a row scoring at least thr is appended to buf, which has room
// for 2k, and when buf is full the k largest move to its front
// (selectKeys) and thr rises to the smallest of them. On random order it
// costs what a heap of k rows does (about 16 µs for 5,760 rows, k = 100),
// and on a corpus sorted by rising score, where every row enters, O(1) per
// row instead of a heap's O(log k).
type topRows struct {
	buf []approxRow
	n   int
	thr float32
}

// add adds rows r0, r0+1, ... of approximate scores a, row skip excepted.
// The common case (a score below thr) costs one vector comparison
// (kernel.FirstAtLeast).
func (t *topRows) add(a []float32, r0 int, skip int64, k int) {
	for j := 0; j < len(a); j++ {
		if j += kernel.FirstAtLeast(a[j:], t.thr); j == len(a) {
			break
		}
		if int64(r0+j) == skip {
			continue
		}
		t.buf[t.n] = newApproxRow(a[j], int32(r0+j))
		if t.n++; t.n == len(t.buf) {
			t.thr, t.n = selectKeys(t.buf, k).score(), k
		}
	}
}

// top returns k rows of largest score among those added, or nil if fewer
// than k were.
func (t *topRows) top(k int) []approxRow {
	if t.n < k {
		return nil
	}
	selectKeys(t.buf[:t.n], k)
	return t.buf[:k]
}

// flushAt is the number of pending rows that are scored at once: a few
// groups of Gather, and few enough that F_k is refreshed often.
const flushAt = 64

// rowBounds gives B_r, the bound of one query against row r of a block
// (z.RowBound(i, qb, r)), with the query's terms gathered once. It is a
// type rather than a func value so that the check of each marked row is
// inlined, not an indirect call.
type rowBounds struct {
	c     kernel.BoundCoefs
	norms []kernel.Norms
}

// of returns B_r for row r of the block.
func (rb *rowBounds) of(r int) float64 { return rb.c.Of(rb.norms[r]) }

// pending holds a query's rows waiting for exact scores, as offsets into
// the block's data, in row order.
type pending struct{ top, same []int32 }

// flush scores query qi's pending rows exactly and offers them, in row
// order.
func (s *search) flush(w, qi int, p *pending, data []float32, base int64) {
	dim := s.t.Corpus.Dim
	h, st := &s.tops[qi], &s.q[qi]
	s.scratch[w].rescored += int64(len(p.top) + len(p.same))
	for i, v := range s.gatherScores(w, qi, data, p.top) {
		offer(h, base+int64(int(p.top[i])/dim), v)
	}
	for _, v := range s.gatherScores(w, qi, data, p.same) {
		if !st.has || v < st.min {
			st.min, st.has = v, true
		}
	}
	p.top, p.same = p.top[:0], p.same[:0]
}

// gatherScores scores query qi against the rows of data that start at the
// offsets idx, with the tile's engine; the result is valid until the
// worker's next call.
func (s *search) gatherScores(w, qi int, data []float32, idx []int32) []float32 {
	if len(idx) == 0 {
		return nil
	}
	sc, e := &s.scratch[w], s.eng
	gw := e.GatherWidth()
	n := (len(idx) + gw - 1) / gw * gw
	sc.padIdx = append(sc.padIdx[:0], idx...)
	for len(sc.padIdx) < n {
		sc.padIdx = append(sc.padIdx, idx[0])
	}
	sc.gathered = grow(sc.gathered, n)
	e.Gather(sc.gathered, sc.queryApart(qi, s.t.Queries.Row(qi), data), data, sc.padIdx)
	return sc.gathered[:len(idx)]
}

// queryApart returns the query q, or where d is a multiple of 512 a copy of
// it placed 2,304 bytes (an odd
// multiple of 256) from data's rows modulo 4 KiB. L1 caches pick a line's
// set by its address modulo 4 KiB, and at d = 1024 or 2048 every row of
// data starts at the same address modulo 4 KiB, often the query's too (its
// matrix has the same row length): then the query's line and the 16 rows'
// lines that Gather reads side by side share one 8-way set and evict each
// other. Rows whose length is a multiple of 128 floats (512 bytes) start
// at multiples of 512 bytes modulo 4 KiB, never at the copy's place. With
// the copy, the AVX2 quantized search at d = 1024 ran 5-10% faster. A
// worker keeps its last copy, but its queries' flushes take turns, so the
// copy is made for nearly every flush: 1% of the search at d = 768 and 2.6%
// at 1536. So it is made only where d is a multiple of 512 (rows at one or
// two places modulo 4 KiB); at d = 768 they lie at four, and the query's
// line shares a set with a quarter of Gather's.
func (sc *scratch) queryApart(qi int, q, data []float32) []float32 {
	const page, apart = 1024, 576 // in floats: 4 KiB, 2,304 bytes
	if len(q)%512 != 0 {
		return q
	}
	at := queryKey{qi, &data[0]}
	if sc.queryAt == at {
		return sc.query
	}
	sc.queryAt = at
	sc.queryBuf = grow(sc.queryBuf, len(q)+page)
	// The difference of two addresses modulo 4 KiB, in floats; uintptr
	// arithmetic wraps modulo 2⁶⁴, a multiple of 4 KiB, so the order of
	// the two does not matter.
	d := int((uintptr(unsafe.Pointer(&sc.queryBuf[0])) - uintptr(unsafe.Pointer(&data[0]))) / 4 % page)
	o := (apart - d + page) % page
	sc.query = append(sc.queryBuf[o:o], q...)
	return sc.query
}

// queryKey names a query and the block of rows its copy was placed for.
type queryKey struct {
	qi   int
	data *float32
}
