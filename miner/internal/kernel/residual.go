package kernel

import (
	"fmt"
	"math"
)

// # The residual check
//
// In the avx2 engine's format a query has fewer levels than 127 where its
// lane sets would pass the cap (QueryLaneSum: a median of 99 on Gaussian
// rows, about 58 on rows with a large common component), so its error e_q,
// and its term of B, are wider than 127 levels leave. With 64 levels (the
// format until its kernel took four steps in 16 bits) that term was about
// half of B on rows without structure: on random rows at d = 768 the rows
// no bound excluded were 2.3% of the pairs, and rescoring them took a fifth
// of the search. The residual check narrows B for the
// rows that the bound above keeps, before they are rescored, reading a
// quarter of the bytes a rescoring reads (the miner decides where that
// pays: residualCheck in miner/quant.go).
//
// A query's error e (over the quantized dimensions R: the row less q̂,
// 0 at the dimensions apart; each e_k = q_k − s_q·q̃_k is exact in float64)
// is quantized again, r̃_k = round(e_k / t_q) within ±ResidualLevels,
// t_q = max|e_k| / ResidualLevels (a float32), and q̌ = t_q·r̃. With
// q̂₂ = q̂ + q̌ and e₂ = q_R − q̂₂ (real), and ĉ, e_c as above (e_c = c − μ − ĉ
// where the corpus is centered, μ = 0 otherwise),
//
//	q_R·c_R = q̂₂·ĉ + e₂·ĉ + q_R·e_c (+ q_R·μ),
//	q̂₂·ĉ   = s_q·s_c·I + t_q·s_c·J,   J = Σ r̃_k·c̃_k (exact, int32),
//
// and the check computes V = fl(fl(J·s_c)·t_q) in float64 (J, s_c and t_q
// are exact there; two roundings of 2⁻⁵³ each, no underflow at these
// magnitudes), so |V − t_q·s_c·J| ≤ 2⁻⁵¹·‖q̌‖·‖ĉ‖. With A's three roundings
// and the exact engine's as above,
//
//	|F − (A + V)| ≤ ‖e₂‖·‖ĉ‖ + ‖q‖·‖e_c‖ + 3.01·u·‖q̂‖·‖ĉ‖ + 2⁻⁵¹·‖q̌‖·‖ĉ‖
//	              + γ(d+1)·‖q‖·‖c‖ + (2d+8)·2⁻¹⁴⁹
//
// plus, where the corpus is centered, the shift's |q·μ − M|, and where
// dimensions are apart, the same terms as for B (ResidualCoefs). ‖e₂‖ is
// about ‖e_q‖/64: what is left of the query's term is negligible, and the
// corpus's term ‖q‖·‖e_c‖ is the same as B's. The search keeps a row only
// where both bounds let it reach the top K: each holds on its own. As for
// B, any integers r̃ keep it valid (‖e₂‖ is computed from those chosen),
// and the (1 + 10⁻⁶) factor covers the float64 sums.
//
// J needs each candidate row's bytes in a row, not in a panel: a block made
// for the check keeps a row-major copy (QuantBlock.RowMajor). ResidualDots
// adds the products with VPMADDUBSW as the avx2 engine does, so it takes
// corpus bytes of at most 127 (ResidualApplies) and |r̃| ≤ 64: a pair of
// products is at most 2·127·64 = 16256, two pairs 32512, exact in 16 bits
// (the residual has its own levels, ResidualLevels, and no lane cap).

// ResidualLevels is the largest |r̃| of a query's residual.
const ResidualLevels = 64

// residualAlign is the multiple of bytes that a residual row and a block's
// row-major row are padded to: ResidualDots reads 64 bytes a step.
const residualAlign = 64

// ResidualApplies reports whether the residual check takes blocks of format
// f: their corpus bytes c̃ + Offset are at most 127 and never negative.
func ResidualApplies(f QuantFormat) bool {
	return f.Offset >= f.CorpusLevels && f.Offset+f.CorpusLevels <= 127
}

// Residual holds the queries' errors quantized again, for the residual
// check (AddResidual).
type Residual struct {
	Stride  int       // bytes per row: Dim rounded up to a multiple of 64
	Data    []int8    // Rows×Stride: r̃, the padding zero
	Scale   []float32 // t_q per row
	Corr    []int32   // −Offset·Σ r̃ per row, as QuantQueries.Corr
	ErrNorm []float64 // ‖e₂‖
	HatNorm []float64 // ‖q̌‖
}

// AddResidual quantizes the errors of z's queries, the rows q they were
// quantized from, for the residual check.
func (z *QuantQueries) AddResidual(q []float32) {
	if !ResidualApplies(z.Format) {
		panic(fmt.Sprintf("kernel: no residual check in format %+v", z.Format))
	}
	stride := (z.Dim + residualAlign - 1) &^ (residualAlign - 1)
	res := &Residual{Stride: stride, Data: make([]int8, z.Rows*stride), Scale: make([]float32, z.Rows),
		Corr: make([]int32, z.Rows), ErrNorm: make([]float64, z.Rows), HatNorm: make([]float64, z.Rows)}
	e := make([]float64, z.Dim)
	for i := range z.Rows {
		z.queryError(e, q[i*z.Dim:(i+1)*z.Dim], i)
		res.quantize(i, e, z.Format.Offset)
	}
	z.Res = res
}

// queryError writes e_k = q_k − s_q·q̃_k of query i, 0 at the dimensions
// apart: s_q·q̃_k has at most 31 significant bits, and where q̃_k ≠ 0 the
// two are within a factor of 4 of each other's scale, so the difference
// is exact in float64.
func (z *QuantQueries) queryError(e []float64, q []float32, i int) {
	sq, qt := float64(z.Scale[i]), z.Data[i*z.Stride:]
	for k, v := range q {
		e[k] = float64(v) - sq*float64(qt[k])
	}
	for _, k := range z.Apart {
		e[k] = 0
	}
}

// quantize stores the residual of row i from its error e.
func (res *Residual) quantize(i int, e []float64, offset int) {
	var m float64
	for _, v := range e {
		m = max(m, math.Abs(v))
	}
	t := float32(m / ResidualLevels)
	if t < 0x1p-100 {
		t = 0 // as rowScale: the error norm is then ‖e‖
	}
	row := res.Data[i*res.Stride : i*res.Stride+len(e)]
	var sum, n2 int64
	var e2 float64
	for k, v := range e {
		var r int32
		if t != 0 {
			r = int32(max(-ResidualLevels, min(ResidualLevels, math.Round(v/float64(t)))))
		}
		row[k] = int8(r)
		sum += int64(r)
		n2 += int64(r * r)
		d := v - float64(t)*float64(r) // t·r is exact in float64
		e2 += d * d
	}
	const up = 1 + 1e-9 // as quantizeRow's norms
	res.Scale[i] = t
	res.Corr[i] = -int32(int64(offset) * sum)
	res.ErrNorm[i] = math.Sqrt(e2) * up
	res.HatNorm[i] = float64(t) * math.Sqrt(float64(n2)) * up
}

// ResidualCoefs returns query row i's BoundCoefs after the residual check
// (the bound of The residual check), which z must have (AddResidual).
func (z *QuantQueries) ResidualCoefs(i int) BoundCoefs {
	hat := 3.01*u*z.HatNorm[i] + z.Res.ErrNorm[i] + 0x1p-51*z.Res.HatNorm[i]
	return z.coefs(i, 0, hat, z.Norm[i])
}

// ResidualValue returns V for query i, the sum dot = Σ r̃_k·(c̃_k + Offset)
// of a corpus row (ResidualDots) and the row's scale cs: approximate score
// + V is the score that ResidualCoefs bounds.
func (z *QuantQueries) ResidualValue(i int, dot int32, cs float32) float64 {
	j := dot + z.Res.Corr[i]
	return float64(j) * float64(cs) * float64(z.Res.Scale[i])
}

// ResidualRow returns query i's residual bytes (Residual.Stride of them).
func (z *QuantQueries) ResidualRow(i int) []int8 {
	return z.Res.Data[i*z.Res.Stride : (i+1)*z.Res.Stride]
}

// ResidualDots sets dst[i] = Σ_k q[k]·rows[offs[i]+k], k < len(q): q a
// query's residual row (ResidualRow), rows a block's RowMajor, offs byte
// offsets of rows in it (multiples of its RowStride). Every byte of rows
// must be at most 127 (ResidualApplies), as the avx2 kernel multiplies
// them with VPMADDUBSW. It panics if an offset is out of range.
func ResidualDots(dst []int32, q []int8, rows []uint8, offs []int32) {
	if len(q)%residualAlign != 0 || len(dst) < len(offs) {
		panic(fmt.Sprintf("kernel: ResidualDots of %d bytes into %d for %d rows", len(q), len(dst), len(offs)))
	}
	for _, o := range offs {
		if o < 0 || int(o)+len(q) > len(rows) {
			panic(fmt.Sprintf("kernel: ResidualDots at offset %d of %d bytes", o, len(rows)))
		}
	}
	if len(offs) == 0 || len(q) == 0 {
		clear(dst[:len(offs)])
		return
	}
	residualDots(dst[:len(offs)], q, rows, offs)
}

// residualDotsGo is ResidualDots in Go.
func residualDotsGo(dst []int32, q []int8, rows []uint8, offs []int32) {
	for i, o := range offs {
		row := rows[o : int(o)+len(q)]
		var s int32
		for k, v := range q {
			s += int32(v) * int32(row[k])
		}
		dst[i] = s
	}
}
