// Package kernel holds the inner loops of the exact search: dense blocks of
// inner products between query rows and corpus rows.
//
// The package is the seam that the SIMD kernels plug into. Every kernel must
// keep one promise: the score of a pair (query row, corpus row) is a function
// of those two vectors alone. It must not depend on how many rows the block
// has or where in the block the pair sits, so that a score computed inside a
// large search equals, bit for bit, the score of the same pair computed alone
// (for positives and easy negatives) and so that results never depend on how
// the work was cut.
package kernel

// Func computes dst[i*nc+j] = <q[i*dim:(i+1)*dim], c[j*dim:(j+1)*dim]> for
// every i < nq and j < nc. dst must hold nq*nc values, q nq*dim and c nc*dim.
type Func func(dst, q, c []float32, nq, nc, dim int)

// Default is the kernel the search uses unless told otherwise.
var Default Func = Go

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
	i := 0
	for ; i+2 <= nq; i += 2 {
		q0 := q[i*dim : i*dim+dim]
		q1 := q[(i+1)*dim : (i+1)*dim+dim]
		d0 := dst[i*nc : i*nc+nc]
		d1 := dst[(i+1)*nc : (i+1)*nc+nc]
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
			dst[i*nc+j] = dot(qi, c[j*dim:j*dim+dim])
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
