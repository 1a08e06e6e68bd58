package kernel

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
)

// The quantized prefilter scores every pair approximately with 8-bit
// integers, and Bound says how far that approximation can be from the score
// the exact float engine computes. The search keeps every row whose interval
// [approx − B, approx + B] could reach its top k and rescores those rows
// exactly, so its result is the exact one.
//
// # Quantization
//
// A query row q (dimension d) gets the scale s_q = max|q_k| / L (a float32)
// and the integers q̃_k = round(q_k / s_q), clamped to [−L, L], where L is
// the QueryLevels of the engine's QuantFormat, 127 (fewer, for the avx2
// engine, whose 16-bit sums need smaller integers, for a query whose
// integers would sum past its QueryLaneSum: quantizeQuery); a corpus row c
// gets s_c and c̃ likewise with L its CorpusLevels: 127, or 63 for the
// avx2 engine. The bound below holds for any scale and integers.
// Write q̂ = s_q·q̃, e_q = q − q̂, ĉ = s_c·c̃, e_c = c − ĉ (real numbers).
// The kernel computes the integer I = Σ q̃_k·c̃_k exactly (int32; the caller
// keeps d ≤ QuantMaxDim, so |I| ≤ d·128·127 < 2³¹) and returns
// A = fl(fl(fl(I)·s_c)·s_q), three float32 roundings.
//
// # The integer sum in each engine
//
// Every int8 engine gets the same I from the same integers, so the same A,
// and the bound below, which uses nothing else, holds for all of them (an
// engine of another format sees other integers, so other A, and its own
// bound, computed from them):
//
//   - avx512vnni and avxvnni (VPDPBUSD, on zmm or ymm): the corpus byte is
//     c̃ + 128 (unsigned, 0…255), the query byte q̃ (signed); each product
//     is at most 255·128 in magnitude and four of them are added to an
//     int32 lane with wrapping (not saturating: that is VPDPBUSDS) additions.
//     The lane starts at Corr = −128·Σq̃, so it ends at Σ q̃·(c̃+128) −
//     128·Σq̃ = I.
//   - avx2 (no byte dot product), BytesFormat: the corpus byte is c̃ + 64
//     (0…127), the query's q̃ (|q̃| ≤ 127). VPMADDUBSW multiplies them and
//     adds the two products of a pair of dimensions into a 16-bit lane,
//     saturating; a pair sum is at most 2·127·127 = 32258 in magnitude, so
//     it never saturates. VPADDW adds the pair sums of four steps (16
//     dimensions) in 16 bits, wrapping: a lane then holds the 8 products of
//     a lane set (bytesLaneSet): with bytes of 0…127 it lies within
//     [−127·Σ⁻, 127·Σ⁺], Σ⁺ the sum of the set's positive q̃ and Σ⁻ that
//     of its negative ones' magnitudes, and the quantizer keeps both within
//     QueryLaneSum = 258 (quantizeQuery: fewer levels for a query over
//     it), so within ±32766: exact. VPMADDWD with 16-bit ones adds a row's
//     two 16-bit sums into an int32 lane (exact), and VPADDD adds that to
//     the lane, which starts at Corr = −64·Σq̃. The steps after the last four go one at a time
//     (VPMADDUBSW, VPMADDWD, VPADDD). That is five multiplying instructions
//     per 128 products, on queries of up to 127 levels (the cap lowers them
//     for a query whose lane set's values of one sign would pass it: rows
//     with a large common component get about 60). Before, two steps at a
//     time took six, on queries of ±64 (4·127·64 = 32512), and one step at
//     a time eight, on queries of ±64 and corpus bytes c̃ + 128 of 127
//     levels (2·255·64 = 32640); the coarser corpus widens B, so more rows
//     are rescored (1.4–1.6× on cmd/bench's data), but the whole quantized
//     search gained 3–16%, and 127-level queries, which the cap allows, cut
//     the rescored rows by a fifth to a quarter again (docs/performance.md).
//     Widening the corpus bytes to 16 bits instead, with VPMOVZXBW and
//     VPMADDWD, keeps 127 corpus levels but measured about 1.5× slower.
//   - neon-sdot (arm64's SDOT), SignedFormat: the corpus byte is c̃
//     itself, signed, as the query's; SDOT adds four products of two
//     signed bytes (each at most 128·128) to an int32 lane, wrapping, from
//     Corr = 0.
//   - go: int32 arithmetic in Go, which wraps, reading the corpus bytes as
//     the format stores them.
//
// The additions are done in different orders and groupings, but addition
// modulo 2³² is associative and commutative, so every engine ends with
// I mod 2³², which is I because |I| < 2³¹ (intermediate sums may wrap; it
// does not matter). The three roundings after the sum are the same
// instructions in the same order everywhere. TestQuantEnginesAgree checks
// the engines against each other and TestQuantEdgeValues against an int64
// reference on the extreme bytes of each engine's format (−128 and 127
// queries, 0 and 255 corpus bytes; for avx2 0…127, with each sign of a
// query's lane sets summing to the cap), where a
// saturating or 16-bit step would show.
//
// # The bound
//
// Let S = q·c (real), and F the float32 score of the exact engine. Then
//
//	S − s_q·s_c·I = q·c − q̂·ĉ = e_q·c + q̂·e_c,
//	|S − s_q·s_c·I| ≤ ‖e_q‖·‖c‖ + ‖q̂‖·‖e_c‖                  (Cauchy–Schwarz)
//	|A − s_q·s_c·I| ≤ ((1+u)³ − 1)·‖q̂‖·‖ĉ‖ + 3·2⁻¹⁴⁹            (three roundings)
//	|F − S|         ≤ γ(d+1)·Σ|q_k·c_k| + (2d+4)·2⁻¹⁴⁹          (d fused or 2d plain roundings)
//	                ≤ γ(d+1)·‖q‖·‖c‖ + (2d+4)·2⁻¹⁴⁹
//
// with u = 2⁻²⁴, γ(n) = n·u/(1 − n·u), and the 2⁻¹⁴⁹ terms covering
// underflow to subnormals. Summing, |F − A| ≤ B with
//
//	B = ‖e_q‖·‖c‖ + ‖q̂‖·‖e_c‖ + γ(d+1)·‖q‖·‖c‖ + 3.01·u·‖q̂‖·‖ĉ‖ + (2d+8)·2⁻¹⁴⁹
//
// Bound evaluates B with the largest ‖c‖, ‖ĉ‖, ‖e_c‖ of a block of corpus
// rows, so it holds for every row of the block; RowBound with one row's. The norms are summed in
// float64 (relative error below d·2⁻⁵³) and B is raised by a factor 1 + 10⁻⁶,
// which covers those errors and the float64 roundings of the comparisons the
// search makes with it (A ± B, thresholds): the term γ(d+1)·‖q‖·‖c‖ alone is
// more than 2⁻²⁴ times any score, so the slack exceeds every such rounding.
// The caller also keeps max|q_k|·max|c_k|·d ≤ 2¹⁰⁰ (QuantSafe), so that
// nothing overflows and every quantity is finite.

// # Dimensions apart
//
// A few dimensions much larger than the rest (the outlier dimensions of many
// transformer models) would set every row's scale and leave the other
// dimensions a few levels, so B would be wide. The caller may name such
// dimensions O (Apart, the same for queries and corpus): they are set to 0
// before quantizing, so that A_R = fl(fl(fl(I)·s_c)·s_q) approximates
// q_R·c_R, R the other dimensions, with the bound above taken with the
// norms of q_R and c_R (e_q = q_R − q̂, and so on); the caller scores
// P = fl(q_O·c_O) with the exact engine over the |O| dimensions and uses
// A = fl(A_R + P). Then, with S = q_R·c_R + q_O·c_O,
//
//	|P − q_O·c_O|   ≤ γ(|O|+1)·‖q_O‖·‖c_O‖ + (2|O|+4)·2⁻¹⁴⁹ ≤ γ(d+1)·‖q‖·‖c‖ + (2d+8)·2⁻¹⁴⁹
//	|A − (A_R + P)| ≤ u·(|A_R| + |P|) ≤ 1.01·u·(‖q̂‖·‖ĉ‖ + ‖q‖·‖c‖)
//
// (|A_R| ≤ (1+u)³‖q̂‖‖ĉ‖, |P| ≤ (1+γ(|O|+1))‖q_O‖‖c_O‖; an addition that
// underflows is exact), so B gains γ(d+1)·‖q‖·‖c‖ + 1.01·u·(‖q̂‖·‖ĉ‖ +
// ‖q‖·‖c‖) + (2d+8)·2⁻¹⁴⁹. Norm holds the whole row's norm ‖q‖ (‖c‖ in a
// block's norms), at least ‖q_R‖ and ‖q_O‖, so the first and the γ terms
// hold with it; HatNorm and ErrNorm are those of the quantized part.

// # A centered corpus
//
// The embeddings of many models share a large common component: every score
// is near the same value, their spread is small, and B, which grows with
// ‖c‖ and with the step that max|c_k| sets, is wide beside it. The caller
// may name a center μ (Center, zero at the dimensions apart): a corpus row
// is then quantized as c' = fl(c − μ), so ĉ = s_c·c̃ approximates c − μ,
// and the query's shift M = Σ q_k·μ_k (float64: Shift) stands for q·μ.
// With e_c = c − μ − ĉ (the real difference, not c' − ĉ),
//
//	q·c = q̂·ĉ + e_q·ĉ + q·μ + q·e_c,
//	|q·c − (s_q·s_c·I + M)| ≤ ‖e_q‖·‖ĉ‖ + ‖q‖·‖e_c‖ + |q·μ − M|,
//
// (over the quantized dimensions R; the part apart is as above), so the
// prefilter compares A + M with the search's thresholds, and B takes
// ‖e_q‖·‖ĉ‖ + ‖q‖·‖e_c‖ in place of ‖e_q‖·‖c‖ + ‖q̂‖·‖e_c‖: ‖ĉ‖ ≈ ‖c − μ‖
// is a fraction of ‖c‖, and c − μ's smaller magnitudes make a smaller step.
// c' differs from c − μ by at most u·|c'_k| in each dimension, so the row's
// ErrNorm is ‖c' − ĉ‖ + 1.01·u·‖c'‖. M's float64 sum is within
// d·2⁻⁵³·‖q‖·‖μ‖ of q·μ (d ≤ 2¹⁵), and the comparisons add and subtract M
// in float64: B gains 2⁻³⁶·‖q‖·‖μ‖ for both.

// QuantLevels is the largest quantized magnitude; QuantMaxDim the largest
// dimension the int32 sums allow (255·127 + 128·127 per dimension, with
// room to spare); QuantPanel the corpus rows per int8 panel.
const (
	QuantLevels = 127 // queries and corpus rows, for most engines
	QuantMaxDim = 32768
	QuantPanel  = 48
)

// QuantSafe reports whether the quantized prefilter applies to data whose
// largest magnitudes are maxQ and maxC in dimension dim: the dimension is
// within QuantMaxDim and no product or sum can come near overflow.
func QuantSafe(maxQ, maxC float32, dim int) bool {
	return dim <= QuantMaxDim && float64(maxQ)*float64(maxC)*float64(dim) <= 0x1p100
}

// QuantQueries holds query rows quantized for the prefilter.
type QuantQueries struct {
	Rows, Dim int
	Format    QuantFormat // the engine's (QEngine.Format)
	Stride    int         // bytes per row: Dim rounded up to a multiple of 4
	Data      []int8      // Rows×Stride, the padding zero
	Scale     []float32   // s_q per row
	Corr      []int32     // −Offset·Σ q̃ per row (the corpus bytes are c̃ + Offset; 0 in SignedFormat)
	Norm      []float64   // ‖q‖ (the whole row's)
	HatNorm   []float64   // ‖q̂‖
	ErrNorm   []float64   // ‖q − q̂‖ (of the quantized dimensions)
	// Apart lists the dimensions left out of the int8 sums, in increasing
	// order, for the caller to score in float (see Dimensions apart); nil
	// when none is.
	Apart []int
	// Center is the corpus's center μ (see A centered corpus), set by
	// CenterOn with Shift, each query's M = Σ q_k·μ_k; nil when the corpus
	// is not centered.
	Center     []float32
	Shift      []float64
	centerNorm float64 // ‖μ‖
	// Res is the queries' residual for the residual check, or nil
	// (AddResidual).
	Res *Residual
}

// CenterOn centers z's queries, the rows q they were quantized from, on mu,
// the center of the blocks they will be scored against (QuantBlock.Center):
// each query's Shift is then added to its approximate scores before they
// are compared (A centered corpus). mu is kept, not copied.
func (z *QuantQueries) CenterOn(q, mu []float32) {
	if len(mu) != z.Dim {
		panic(fmt.Sprintf("kernel: a center of %d dimensions for queries of %d", len(mu), z.Dim))
	}
	z.Center, z.Shift, z.centerNorm = mu, make([]float64, z.Rows), norm2(mu)
	for i := range z.Rows {
		var m float64
		for k, v := range q[i*z.Dim : (i+1)*z.Dim] {
			m += float64(v) * float64(mu[k])
		}
		z.Shift[i] = m
	}
}

// norm2 returns ‖v‖ in float64, raised by a relative 10⁻⁹ for the rounding
// of its sum (relative error below len(v)·2⁻⁵³, far inside 10⁻⁹; as
// quantizeRow's norms).
func norm2(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s) * (1 + 1e-9)
}

// QuantFormat is how an int8 engine takes its integers: queries quantized
// to −QueryLevels…QueryLevels, corpus rows to −CorpusLevels…CorpusLevels,
// each stored as the byte c̃ + Offset, or, where Offset is 0, as c̃ itself
// in a signed byte (two's complement). Where QueryLaneSum is not 0, over
// each lane set of a query (bytesLaneSet) the sum of its positive q̃_k and
// that of its negative ones' magnitudes are each at most QueryLaneSum. The
// queries and the blocks an engine scores are made in its format
// (QEngine.Format).
type QuantFormat struct{ QueryLevels, CorpusLevels, Offset, QueryLaneSum int }

// DefaultFormat is the format of most engines: 127 levels each side, the
// corpus bytes 1…255 (x86's VPDPBUSD multiplies an unsigned byte by a
// signed one).
var DefaultFormat = QuantFormat{QueryLevels: QuantLevels, CorpusLevels: QuantLevels, Offset: 128}

// SignedFormat is DefaultFormat with signed corpus bytes, for arm64's SDOT,
// which multiplies two signed bytes: it would otherwise flip every corpus
// byte back from c̃ + 128 before using it.
var SignedFormat = QuantFormat{QueryLevels: QuantLevels, CorpusLevels: QuantLevels}

// BytesFormat is the format of the avx2 engine's kernel, dotBytes (see
// bytesKernel in gen_asm.go): VPMADDUBSW adds two byte products into a
// saturating 16-bit lane, at most 2·127·127 = 32258 with corpus bytes
// c̃ + 64 ≤ 127, and the kernel adds four such lanes in 16 bits, eight
// products of one lane set: with each sign's sum of the set's q̃ at most
// 258 in magnitude, within ±32766. It is defined on every platform for the
// portable engine in it (QuantGoIn) and the residual check's tests.
var BytesFormat = QuantFormat{QueryLevels: QuantLevels, CorpusLevels: 63, Offset: 64, QueryLaneSum: 258}

// bytesLaneSet returns the lane set of dimension k in a row of stride
// bytes, or −1: dotBytes adds the pair sums of steps 4g…4g+3 (dimensions
// 16g…16g+15) in two 16-bit lanes, one for the dimensions 16g + 4s + {0, 1}
// and one for 16g + 4s + {2, 3} (s = 0…3): sets 2g and 2g + 1. The steps
// after the last whole four are added one at a time, in no set.
func bytesLaneSet(k, stride int) int {
	if k >= stride/16*16 {
		return -1
	}
	return k/16*2 + k%4/2
}

// QuantizeQueries quantizes the nq row-major rows of q to the integers of
// format f (e.Format() for engine e).
func QuantizeQueries(q []float32, nq, dim int, f QuantFormat) *QuantQueries {
	return QuantizeQueriesApart(q, nq, dim, f, nil)
}

// QuantizeQueriesApart is QuantizeQueries with the dimensions apart (in
// increasing order) left out of the int8 sums.
func QuantizeQueriesApart(q []float32, nq, dim int, f QuantFormat, apart []int) *QuantQueries {
	f.check()
	stride := (dim + 3) &^ 3
	z := &QuantQueries{Rows: nq, Dim: dim, Format: f, Stride: stride,
		Data: make([]int8, nq*stride), Scale: make([]float32, nq), Corr: make([]int32, nq),
		Norm: make([]float64, nq), HatNorm: make([]float64, nq), ErrNorm: make([]float64, nq), Apart: apart}
	buf := make([]int32, dim)
	var masked []float32
	if len(apart) > 0 {
		masked = make([]float32, dim)
	}
	for i := range nq {
		z.Scale[i], z.Norm[i], z.HatNorm[i], z.ErrNorm[i] = quantizeQuery(q[i*dim:(i+1)*dim], buf, f, stride, apart, masked)
		row := z.Data[i*stride : i*stride+dim]
		var sum int32
		for k, v := range buf {
			row[k] = int8(v)
			sum += v
		}
		z.Corr[i] = -int32(f.Offset) * sum
	}
	return z
}

// quantizeQuery quantizes a query row as quantizeRowApart does, with
// f.QueryLevels levels, or fewer where f caps the lane sums
// (QueryLaneSum) and a lane set of the row would be over the cap: its
// scale is then larger, and so its error, which its bound takes in. Of the
// avx2 engine's 127 levels, the cap leaves Gaussian rows a median of about
// 99 (d = 96 to 1536; the fewest 55–62), rows with a large common component
// (1 + 0.5·N(0, 1) per dimension), whose values share a sign, about 58, and
// rows of equal values 31.
func quantizeQuery(row []float32, out []int32, f QuantFormat, stride int, apart []int, masked []float32) (scale float32, norm, hat, errNorm float64) {
	levels := int32(f.QueryLevels)
	for {
		scale, norm, hat, errNorm = quantizeRowApart(row, out, levels, apart, nil, masked)
		sum := maxLaneSum(out, stride)
		if f.QueryLaneSum == 0 || sum <= f.QueryLaneSum {
			return scale, norm, hat, errNorm
		}
		if levels == 1 { // |q̃| ≤ 1: a set of 8 sums to at most 8
			panic(fmt.Sprintf("kernel: lane sum %d over %d with one level", sum, f.QueryLaneSum))
		}
		// Fewer levels shrink every |q̃| about in proportion, rounding
		// adding at most 1/2 to each of a set's 8: aim 4 below the cap,
		// and go on while a set is over it.
		levels = max(1, min(levels-1, int32(int64(levels)*int64(f.QueryLaneSum-4)/int64(sum))))
	}
}

// maxLaneSum returns the largest sum of one sign's |q_k| over a lane set
// (bytesLaneSet) of the row q of stride bytes.
func maxLaneSum(q []int32, stride int) int {
	var pos, neg [2]int // the current group's two sets
	best, group := 0, 0
	for k, v := range q {
		set := bytesLaneSet(k, stride)
		if set < 0 {
			break
		}
		if set/2 != group {
			best = max(best, pos[0], pos[1], neg[0], neg[1])
			pos, neg, group = [2]int{}, [2]int{}, set/2
		}
		if v > 0 {
			pos[set%2] += int(v)
		} else {
			neg[set%2] -= int(v)
		}
	}
	return max(best, pos[0], pos[1], neg[0], neg[1])
}

// check panics unless f's integers fit the bytes and the int32 sums
// (QuantMaxDim) of the kernels, and a lane cap, if any, takes a query of
// one level (8 values of one sign: quantizeQuery's last resort).
func (f QuantFormat) check() {
	if f.QueryLevels < 1 || f.QueryLevels > QuantLevels || f.CorpusLevels < 1 || f.CorpusLevels > QuantLevels ||
		f.QueryLaneSum < 0 || f.QueryLaneSum > 0 && f.QueryLaneSum < 8 ||
		f.Offset != 0 && (f.Offset < f.CorpusLevels || f.Offset+f.CorpusLevels > 255) {
		panic(fmt.Sprintf("kernel: quantized format %+v", f))
	}
}

// quantizeRowApart is quantizeRow with the dimensions apart set to 0 first
// and, where center is not nil, the row centered on it (A centered corpus):
// it quantizes c' = fl(row − center) in masked, a buffer of len(row), and
// raises the error by 1.01·u·‖c'‖. The norm is the whole row's.
func quantizeRowApart(row []float32, out []int32, levels int32, apart []int, center, masked []float32) (scale float32, norm, hat, errNorm float64) {
	if len(apart) == 0 && center == nil {
		return quantizeRow(row, out, levels)
	}
	copy(masked, row)
	for k, m := range center {
		masked[k] -= m
	}
	for _, k := range apart {
		masked[k] = 0
	}
	var part float64
	scale, part, hat, errNorm = quantizeRow(masked, out, levels)
	if center != nil {
		errNorm += 1.01 * u * part
	}
	return scale, norm2(row), hat, errNorm
}

// quantizeRow writes the quantized values of row into out and returns the
// scale and the norms of the row, its quantized form and the error, each
// raised by a relative 10⁻⁹ to cover float64 rounding. Any integers would
// keep the bound valid (it is computed from the integers chosen); rounding to
// the nearest makes it small. The corpus is quantized once per tile, on
// every core, so where the CPU has AVX2 both passes over the row run in
// assembly (maxAbsBits, quantizeSums), 8 values a step: in Go they were
// about as long as the search itself for a tile of 512 queries.
func quantizeRow(row []float32, out []int32, levels int32) (scale float32, norm, hat, errNorm float64) {
	scale, inv := rowScale(maxAbsBits(row), levels)
	// ‖q̂‖² = scale²·Σn² with Σn² an exact integer.
	sc := float64(scale)
	sum := quantizeSums(row, out[:len(row)], inv, levels, sc)
	const up = 1 + 1e-9
	return scale, math.Sqrt(sum.x) * up, math.Sqrt(float64(sum.n2)) * sc * up, math.Sqrt(sum.e) * up
}

// rowScale returns the scale of a row whose largest |v| has the bits m, and
// its inverse (0 for a zero scale).
func rowScale(m uint32, levels int32) (scale, inv float32) {
	scale = math.Float32frombits(m) / float32(levels)
	if scale < 0x1p-100 {
		scale = 0 // tiny rows quantize to zero; the error norm is then ‖row‖
	}
	if scale != 0 {
		inv = 1 / scale
	}
	return scale, inv
}

// quantSums are the sums of a quantized row: Σx² and Σ(x − sc·n)² in
// float64, in any order (every order stays far inside quantizeRow's 10⁻⁹
// margin), and Σn², exact (|n| ≤ 127 and d ≤ QuantMaxDim keep it below
// 2³¹). Its layout is read by the assembly.
type quantSums struct {
	x, e float64
	n2   int64
}

// MaxAbs returns the largest |v[i]| (0 for none), with AVX2 where the CPU
// has it. The magnitudes are compared as bits, so an infinity or a NaN in v
// makes the result +Inf or a NaN: v is finite exactly when MaxAbs(v) <
// +Inf, which is how the miner validates its input in the same pass.
func MaxAbs(v []float32) float32 { return math.Float32frombits(maxAbsBits(v)) }

// maxAbsBitsGo returns the bits of the largest |v| of row (finite values,
// compared as bits).
func maxAbsBitsGo(row []float32) uint32 {
	var m uint32
	for _, v := range row {
		m = max(m, math.Float32bits(v)&^(1<<31))
	}
	return m
}

// quantizeGo writes roundLevel(v·inv) for each v of row into out and
// returns the sums. Two float64 sums each (even and odd dimensions) halve
// the dependency chains; locals rather than arrays, and a rounding without a
// branch on the sign (random signs mispredict half the time).
func quantizeGo(row []float32, out []int32, inv float32, levels int32, sc float64) quantSums {
	var s0, s1, e0, e1 float64
	var n2 int64
	k := 0
	for ; k+2 <= len(row); k += 2 {
		v0, v1 := row[k], row[k+1]
		n0, n1 := roundLevel(v0*inv, levels), roundLevel(v1*inv, levels)
		out[k], out[k+1] = n0, n1
		n2 += int64(n0*n0 + n1*n1)
		x0, x1 := float64(v0), float64(v1)
		d0, d1 := x0-sc*float64(n0), x1-sc*float64(n1) // sc·n is exact: 24 × 8 bits
		s0 += x0 * x0
		s1 += x1 * x1
		e0 += d0 * d0
		e1 += d1 * d1
	}
	if k < len(row) {
		n := roundLevel(row[k]*inv, levels)
		out[k] = n
		n2 += int64(n * n)
		x := float64(row[k])
		d := x - sc*float64(n)
		s0 += x * x
		e0 += d * d
	}
	return quantSums{s0 + s1, e0 + e1, n2}
}

// roundLevel rounds x to the nearest integer, halves away from zero (x ± 0.5
// truncated: the 0.5 takes x's sign), clamped to ±levels.
func roundLevel(x float32, levels int32) int32 {
	half := math.Float32frombits(0x3f000000 | math.Float32bits(x)&(1<<31))
	return max(-levels, min(levels, int32(x+half)))
}

// QuantBlock is a block of corpus rows packed for the int8 kernels: panels
// of QuantPanel rows, each panel [Stride/4][QuantPanel][4] bytes holding
// c̃ + Format.Offset (c̃ itself, signed, where Offset is 0), and the rows'
// scales. MaxNorm, MaxHatNorm and MaxErrNorm are the
// largest ‖c‖, ‖ĉ‖ and ‖c − ĉ‖ of its rows, for Bound.
type QuantBlock struct {
	Rows, Dim, Stride int
	Format            QuantFormat
	Data              []uint8
	Scale             []float32
	RowNorms          []Norms // per row: ‖c‖, ‖ĉ‖, ‖c − ĉ‖
	MaxNorm           float64
	MaxHatNorm        float64
	MaxErrNorm        float64
	// Apart lists the dimensions left out of the int8 sums, as the
	// queries' Apart; set it before PackPanels.
	Apart []int
	// Center is the center μ the rows are quantized around (A centered
	// corpus), zero at the dimensions apart, or nil; set it before
	// PackPanels, and center the queries on it (QuantQueries.CenterOn).
	Center []float32
	// KeepRows asks PackPanels to keep a row-major copy of the bytes too,
	// RowMajor (RowStride bytes a row, the padding zero), for the residual
	// check; set it before Reset.
	KeepRows  bool
	RowMajor  []uint8
	RowStride int
}

// Reset sizes b for rows rows of dimension dim in format f, reusing its
// buffers.
func (b *QuantBlock) Reset(rows, dim int, f QuantFormat) {
	f.check()
	b.Rows, b.Dim, b.Stride, b.Format = rows, dim, (dim+3)&^3, f
	np := (rows + QuantPanel - 1) / QuantPanel * QuantPanel
	b.Data = grow(b.Data, np*b.Stride)
	b.Scale = grow(b.Scale, np)
	b.RowNorms = grow(b.RowNorms, rows)
	b.RowStride = 0
	if b.KeepRows {
		b.RowStride = (dim + residualAlign - 1) &^ (residualAlign - 1)
		b.RowMajor = grow(b.RowMajor, rows*b.RowStride)
	}
	b.MaxNorm, b.MaxHatNorm, b.MaxErrNorm = 0, 0, 0
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// Norms are the largest norms of a range of rows (see QuantBlock).
type Norms struct{ Norm, Hat, Err float64 }

// Max returns the larger of each norm.
func (n Norms) Max(o Norms) Norms {
	return Norms{max(n.Norm, o.Norm), max(n.Hat, o.Hat), max(n.Err, o.Err)}
}

// PackPanels quantizes and packs the panels [p0, p1) of the block from c,
// the block's rows in row-major order, and returns their largest norms.
// Different panels may be packed concurrently; SetNorms then records the
// maximum over all of them.
func (b *QuantBlock) PackPanels(c []float32, p0, p1 int) Norms {
	var out Norms
	w := QuantPanel
	buf := make([]int32, b.Stride) // the padding stays 0
	var masked []float32
	if len(b.Apart) > 0 || b.Center != nil {
		masked = make([]float32, b.Dim)
	}
	for p := p0; p < p1; p++ {
		panel := b.Data[p*w*b.Stride : (p+1)*w*b.Stride]
		for r := range w {
			row := p*w + r
			scale := float32(0)
			if row < b.Rows {
				var n Norms
				scale, n.Norm, n.Hat, n.Err = quantizeRowApart(c[row*b.Dim:(row+1)*b.Dim], buf[:b.Dim], int32(b.Format.CorpusLevels), b.Apart, b.Center, masked)
				b.RowNorms[row] = n
				out = out.Max(n)
			} else {
				clear(buf)
			}
			b.Scale[row] = scale
			packRow(panel[4*r:], buf, int32(b.Format.Offset))
			if b.KeepRows && row < b.Rows {
				copyRow(b.RowMajor[row*b.RowStride:(row+1)*b.RowStride], buf[:b.Dim], int32(b.Format.Offset))
			}
		}
	}
	return out
}

// copyRow writes the bytes c̃ + off of one row's integers q into dst, and
// zeros after them.
func copyRow(dst []uint8, q []int32, off int32) {
	for k, v := range q {
		dst[k] = uint8(v + off)
	}
	clear(dst[len(q):])
}

// packRow writes the bytes c̃ + off of one row (its integers q, Stride of
// them) into its place in a panel (dst from the row's first word on): each
// four dimensions as one little-endian word, QuantPanel words apart.
func packRow(dst []uint8, q []int32, off int32) {
	const step = 4 * QuantPanel
	for k := 0; k+4 <= len(q); k += 4 {
		x := q[k : k+4 : k+4]
		w := uint32(uint8(x[0]+off)) | uint32(uint8(x[1]+off))<<8 | uint32(uint8(x[2]+off))<<16 | uint32(uint8(x[3]+off))<<24
		binary.LittleEndian.PutUint32(dst[k/4*step:], w)
	}
}

// SetNorms records the block's largest norms.
func (b *QuantBlock) SetNorms(n Norms) { b.MaxNorm, b.MaxHatNorm, b.MaxErrNorm = n.Norm, n.Hat, n.Err }

// MaxNorms returns the block's largest norms, as SetNorms took them.
func (b *QuantBlock) MaxNorms() Norms { return Norms{b.MaxNorm, b.MaxHatNorm, b.MaxErrNorm} }

// Panels is the number of panels of the block.
func (b *QuantBlock) Panels() int { return (b.Rows + QuantPanel - 1) / QuantPanel }

// Bound returns B for query row i against every row of block b (see the
// comment at the top of this file): |F − A| ≤ B for the exact engine's score
// F and the prefilter's score A of any pair.
func (z *QuantQueries) Bound(i int, b *QuantBlock) float64 {
	return z.Coefs(i).Of(b.MaxNorms())
}

// BoundCoefs are the terms of B for one query row, gathered by corpus norm:
// B = (Norm·‖c‖ + Hat·‖ĉ‖ + Err·‖c − ĉ‖ + Const)·(1 + 10⁻⁶). The last factor
// covers the rounding of B's own evaluation (a few float64 operations, each
// within 2⁻⁵³), whichever order its terms are added in. A scan computes
// them once per query and block rather than once per row.
type BoundCoefs struct{ Norm, Hat, Err, Const float64 }

// u is float32's unit roundoff, 2⁻²⁴: the u of the bounds' proofs above.
const u = 0x1p-24

// Coefs returns query row i's BoundCoefs.
func (z *QuantQueries) Coefs(i int) BoundCoefs {
	hat := 3.01 * u * z.HatNorm[i]
	if z.Center != nil { // A centered corpus: e_q·ĉ and q·e_c
		return z.coefs(i, 0, hat+z.ErrNorm[i], z.Norm[i])
	}
	return z.coefs(i, z.ErrNorm[i], hat, z.HatNorm[i])
}

// coefs completes query row i's BoundCoefs from the terms that depend on
// the bound's form, the coefficients of ‖c‖ (the query's error, norm), of
// ‖ĉ‖ (hat) and of the corpus's error (err): it adds the exact engine's
// γ(d+1)·‖q‖ to the first, the underflow terms, the shift's sums where the
// corpus is centered, and the float part and the sum where dimensions are
// apart (Dimensions apart).
func (z *QuantQueries) coefs(i int, norm, hat, err float64) BoundCoefs {
	d := float64(z.Dim)
	gamma := (d + 1) * u / (1 - (d+1)*u)
	c := BoundCoefs{Norm: norm + gamma*z.Norm[i], Hat: hat, Err: err, Const: (2*d + 8) * 0x1p-149}
	if z.Center != nil {
		c.Const += 0x1p-36 * z.Norm[i] * z.centerNorm
	}
	if len(z.Apart) > 0 {
		c.Norm += gamma*z.Norm[i] + 1.01*u*z.Norm[i]
		c.Hat += 1.01 * u * z.HatNorm[i]
		c.Const *= 2
	}
	return c
}

// Of returns B for a corpus row of norms n (or a block of largest norms n).
func (c BoundCoefs) Of(n Norms) float64 {
	return (c.Norm*n.Norm + c.Hat*n.Hat + c.Err*n.Err + c.Const) * (1 + 1e-6)
}

// RowBound is Bound for query row i and the single row r of block b: the
// same formula with that row's norms, so never larger than Bound.
func (z *QuantQueries) RowBound(i int, b *QuantBlock, r int) float64 {
	return z.Coefs(i).Of(b.RowNorms[r])
}

// QEngine is an int8 kernel for the prefilter. On the same quantized
// queries its approximate scores are the same in every QEngine: the integer
// sums are exact and the three roundings after them are fixed.
type QEngine struct {
	Name string
	// format is the engine's QuantFormat, DefaultFormat where zero; the
	// portable engine takes every format.
	format QuantFormat
	// byteMax is the largest corpus byte the kernels' arithmetic takes
	// exactly (0: every byte), for the tests of the extremes; every engine
	// takes every query byte, −128 included (within its format's lane cap).
	byteMax int
	// expand, where not nil, writes m query rows (ldq bytes apart, steps
	// steps of four bytes) into dst in the layout micro reads, 32 bytes a
	// step, row after row: Scores hands micro those rows, steps·32 bytes
	// apart, in place of z's.
	expand func(dst, q []int8, ldq, m, steps int)
	micro  []func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32)
}

// expandBufs holds the buffers of QEngine.expand's rows, one micro-tile of
// queries each, for the Scores calls of all workers.
var expandBufs = sync.Pool{New: func() any { return new([]int8) }}

// Scores writes the approximate scores of queries [q0, q0+nq) of z against
// the panels [p0, p1) of b: dst[i*ldd+j] for j < (p1−p0)·QuantPanel, rows of
// padding scoring 0.
func (e *QEngine) Scores(dst []float32, ldd int, z *QuantQueries, q0, nq int, b *QuantBlock, p0, p1 int) {
	if nq == 0 || p1 <= p0 {
		return
	}
	w := QuantPanel
	n := (p1 - p0) * w
	if z.Format != b.Format || e != QuantGo && z.Format != e.Format() {
		panic(fmt.Sprintf("kernel: %s scores format %+v, not queries of %+v and a block of %+v", e.Name, e.Format(), z.Format, b.Format))
	}
	if z.Stride != b.Stride || !slices.Equal(z.Apart, b.Apart) || !slices.Equal(z.Center, b.Center) || ldd < n || len(dst) < (nq-1)*ldd+n || q0+nq > z.Rows || p1 > b.Panels() {
		panic(fmt.Sprintf("kernel: quantized Scores of queries [%d,%d) of %d, panels [%d,%d) of %d, ldd %d, %d scores",
			q0, q0+nq, z.Rows, p0, p1, b.Panels(), ldd, len(dst)))
	}
	micro := e.micro
	if e == QuantGo && z.Format.Offset == 0 {
		micro = quantGoSigned // bytes that are c̃ itself
	}
	mr := len(micro) - 1
	steps := z.Stride / 4
	var ex []int8
	if e.expand != nil {
		buf := expandBufs.Get().(*[]int8)
		defer expandBufs.Put(buf)
		*buf = grow(*buf, mr*steps*32)
		ex = *buf
	}
	for i0 := 0; i0 < nq; i0 += mr {
		m := min(mr, nq-i0)
		f := micro[m]
		qi := q0 + i0
		q, ldq := z.Data[qi*z.Stride:], z.Stride
		if ex != nil {
			// Once per micro-tile of queries, for all the panels.
			e.expand(ex, q, ldq, m, steps)
			q, ldq = ex, steps*32
		}
		for p := p0; p < p1; p++ {
			f(dst[i0*ldd+(p-p0)*w:], ldd, q, ldq,
				b.Data[p*w*b.Stride:], steps, z.Corr[qi:], z.Scale[qi:], b.Scale[p*w:])
		}
	}
}

// Format is the format of the queries and blocks the engine scores:
// DefaultFormat, or smaller integers where its arithmetic would saturate.
func (e *QEngine) Format() QuantFormat {
	if e.format == (QuantFormat{}) {
		return DefaultFormat
	}
	return e.format
}

func (e *QEngine) maxByte() int {
	if e.byteMax == 0 {
		return 255
	}
	return e.byteMax
}

// QuantGo is the portable int8 kernel: the reference for the others, and the
// prefilter where no SIMD one runs.
var QuantGo = &QEngine{Name: "go", micro: []func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32){
	nil, quantGoMicro[uint8],
}}

// QuantGoIn returns the portable engine in format f (QuantGo's is
// DefaultFormat): the arithmetic of another engine's format, the avx2
// engine's say, on any CPU, for tests.
func QuantGoIn(f QuantFormat) *QEngine {
	f.check()
	e := *QuantGo
	e.Name, e.format = "go-"+fmt.Sprint(f.QueryLevels, f.CorpusLevels, f.Offset), f
	if f.Offset == 0 {
		e.micro = quantGoSigned
	}
	return &e
}

// quantGoSigned is QuantGo's kernel for SignedFormat, whose corpus bytes are
// c̃ as int8 (corr is then 0).
var quantGoSigned = []func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32){
	nil, quantGoMicro[int8],
}

// quantGoMicro scores one query against one panel; B says how a corpus byte
// reads: uint8 (c̃ + Offset, which corr takes off) or int8 (c̃).
func quantGoMicro[B uint8 | int8](dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
	const w = QuantPanel
	for r := range w {
		acc := corr[0]
		for s := range steps {
			c := p[(s*w+r)*4 : (s*w+r)*4+4]
			x := q[s*4 : s*4+4]
			acc += int32(B(c[0]))*int32(x[0]) + int32(B(c[1]))*int32(x[1]) + int32(B(c[2]))*int32(x[2]) + int32(B(c[3]))*int32(x[3])
		}
		v := float32(acc) * cs[r]
		dst[r] = v * qs[0]
	}
}

// QEngines lists the int8 engines this CPU runs, fastest first.
func QEngines() []*QEngine { return qavailable }

var qavailable = append(quantEngines(), QuantGo)

// SelectedQuant is the int8 engine of this process, or nil where the
// prefilter would not be faster than the exact search; the search then runs
// exact, which gives the same result. Each float engine takes the int8
// engines that outrun it: "avx512" the AVX-512 VNNI one (4× its multiply-adds
// per cycle; AVX2's byte products would be slower than its float FMAs),
// "avx2" AVX-VNNI where the CPU has it, else the AVX2 byte kernel (about
// twice the multiply-adds of 256-bit FMAs, on a quarter of the bytes).
// HARDNEG_KERNEL=go selects the portable int8 kernel, so that the forced
// portable path runs the prefilter's logic too. QuantEnvVar names an int8
// engine instead (an unknown or unavailable name panics at start).
var SelectedQuant = selectQuant(Selected, os.Getenv(QuantEnvVar))

// QuantEnvVar is the environment variable that forces an int8 engine, one of
// QEngines' names: HARDNEG_QUANT_KERNEL=avx2 on an AVX-VNNI machine runs
// what an AVX2-only one runs.
const QuantEnvVar = "HARDNEG_QUANT_KERNEL"

func selectQuant(e *Engine, force string) *QEngine {
	if force != "" {
		var names []string
		for _, q := range qavailable {
			if q.Name == force {
				return q
			}
			names = append(names, q.Name)
		}
		panic(fmt.Sprintf("%s=%s: int8 kernel %q is not available on this CPU (available: %s)",
			QuantEnvVar, force, force, strings.Join(names, ", ")))
	}
	if q := pairedQuant(e); q != nil { // arm64: "neon-dot" brings the SDOT kernel
		return q
	}
	switch e.Name {
	case "go":
		return QuantGo
	case "avx512":
		return firstQuant("avx512vnni")
	case "avx2":
		return firstQuant("avxvnni", "avx2")
	}
	return nil
}

// firstQuant returns the first available int8 engine among names, or nil.
func firstQuant(names ...string) *QEngine {
	for _, n := range names {
		for _, q := range qavailable {
			if q.Name == n {
				return q
			}
		}
	}
	return nil
}
