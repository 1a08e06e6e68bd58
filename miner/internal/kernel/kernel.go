//go:generate go run gen_asm.go

// Package kernel holds the inner loops of the search: dense blocks of inner
// products between query rows and corpus rows, and the int8 blocks of the
// quantized prefilter.
//
// Every float kernel keeps one promise: the score of a pair (query row,
// corpus row) is a function of those two vectors alone. It does not depend on
// how many rows the block has or where in the block the pair sits, so that a
// score computed inside a large search equals, bit for bit, the score of the
// same pair computed alone (for positives, easy negatives and the rescoring
// of the quantized prefilter) and results never depend on how the work was
// cut or scheduled.
//
// # Engines
//
// An Engine is a kernel family with its own arithmetic: "avx512" (AVX-512F,
// 8 queries × 48 corpus rows per micro-tile) and "avx2" (AVX2+FMA, 6 × 16)
// compute each pair as one sequential chain of fused multiply-adds over the
// dimensions, so they give identical scores to each other; "go" (portable,
// no fused operations) rounds the product and the sum separately and so can
// differ from them in the last bit. The SIMD engines work on the corpus
// packed into panels (Engine.Pack): the panel's rows lie side by side, one
// per vector lane, so the micro-kernel needs no horizontal sums and stores
// whole rows of scores.
//
// Selected is chosen once per process, from the CPU's features
// (golang.org/x/sys/cpu), or forced with the environment variable
// HARDNEG_KERNEL=avx512|avx2|go (an unknown or unavailable name panics at
// start, rather than silently running another path). Build with the tag
// purego for the portable engine only.
//
// The int8 engines of the quantized prefilter (QEngine) are "avx512vnni"
// (AVX-512 VNNI), "avxvnni" (AVX-VNNI: the same instruction on ymm, without
// AVX-512), "avx2" (16-bit products) and "go"; SelectedQuant goes with
// Selected, or HARDNEG_QUANT_KERNEL forces one.
package kernel

// Func computes dst[i*nc+j] = <q[i*dim:(i+1)*dim], c[j*dim:(j+1)*dim]> for
// every i < nq and j < nc. dst must hold nq*nc values, q nq*dim and c nc*dim.
type Func func(dst, q, c []float32, nq, nc, dim int)

// Default is the Func form of Selected: the kernel the search uses unless
// told otherwise.
var Default Func = Selected.Func()

// Go is the portable kernel: 2 query rows × 3 corpus rows per step, with the
// six sums kept in locals so that each loaded value is used two or three
// times. The block is small because the Go compiler spills to the stack once
// a loop holds more than about a dozen float values, and a spilled
// accumulator costs a store-to-load round trip on every step (measured: 4×4
// and 3×3 blocks run at a third of the speed of 2×3).
//
// Every pair is summed in the same order (dimension 0 upwards, one rounding
// per product and per sum), whatever its place in the block; the explicit
// float32 conversions forbid the compiler from fusing a multiply and an add,
// which it may do on some platforms and not others, so the scores are the
// same on every machine.
func Go(dst, q, c []float32, nq, nc, dim int) {
	goStrided(dst, nc, q, c, nq, nc, dim)
}

// goStrided is Go with the rows of dst ldd values apart.
func goStrided(dst []float32, ldd int, q, c []float32, nq, nc, dim int) {
	i := 0
	for ; i+2 <= nq; i += 2 {
		q0 := q[i*dim : i*dim+dim]
		q1 := q[(i+1)*dim : (i+1)*dim+dim]
		d0 := dst[i*ldd : i*ldd+nc]
		d1 := dst[(i+1)*ldd : (i+1)*ldd+nc]
		j := 0
		for ; j+3 <= nc; j += 3 {
			block2x3(d0[j:j+3], d1[j:j+3], q0, q1, c[j*dim:(j+3)*dim], dim)
		}
		for ; j < nc; j++ {
			cj := c[j*dim : j*dim+dim]
			d0[j] = dot(q0, cj)
			d1[j] = dot(q1, cj)
		}
	}
	for ; i < nq; i++ {
		qi := q[i*dim : i*dim+dim]
		for j := 0; j < nc; j++ {
			dst[i*ldd+j] = dot(qi, c[j*dim:j*dim+dim])
		}
	}
}

// block2x3 writes the products of q0 and q1 with the three rows of c into
// d0 and d1.
func block2x3(d0, d1, q0, q1, c []float32, dim int) {
	c0 := c[0:dim]
	c1 := c[dim : 2*dim]
	c2 := c[2*dim : 3*dim]
	q1 = q1[:len(q0)]
	c0 = c0[:len(q0)]
	c1 = c1[:len(q0)]
	c2 = c2[:len(q0)]
	var s00, s01, s02, s10, s11, s12 float32
	for d, a := range q0 {
		b0, b1, b2 := c0[d], c1[d], c2[d]
		s00 += float32(a * b0)
		s01 += float32(a * b1)
		s02 += float32(a * b2)
		a = q1[d]
		s10 += float32(a * b0)
		s11 += float32(a * b1)
		s12 += float32(a * b2)
	}
	d0[0], d0[1], d0[2] = s00, s01, s02
	d1[0], d1[1], d1[2] = s10, s11, s12
}

// dot is the one-pair form of the same sum, in the same order.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for d := range a {
		s += float32(a[d] * b[d])
	}
	return s
}
