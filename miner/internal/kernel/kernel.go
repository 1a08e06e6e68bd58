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

// Go is the portable kernel: 4 query rows × 4 corpus rows per step, with the
// sixteen sums kept in locals so that each loaded value is used four times.
//
// Every pair is summed in the same order (dimension 0 upwards, one rounding
// per product and per sum), whatever its place in the block; the explicit
// float32 conversions forbid the compiler from fusing a multiply and an add,
// which it may do on some platforms and not others, so the scores are the
// same on every machine.
func Go(dst, q, c []float32, nq, nc, dim int) {
	i := 0
	for ; i+4 <= nq; i += 4 {
		q0 := q[i*dim : i*dim+dim]
		q1 := q[(i+1)*dim : (i+1)*dim+dim]
		q2 := q[(i+2)*dim : (i+2)*dim+dim]
		q3 := q[(i+3)*dim : (i+3)*dim+dim]
		j := 0
		for ; j+4 <= nc; j += 4 {
			block4x4(dst[i*nc+j:], nc, q0, q1, q2, q3, c[j*dim:(j+4)*dim], dim)
		}
		for ; j < nc; j++ {
			cj := c[j*dim : j*dim+dim]
			dst[i*nc+j] = dot(q0, cj)
			dst[(i+1)*nc+j] = dot(q1, cj)
			dst[(i+2)*nc+j] = dot(q2, cj)
			dst[(i+3)*nc+j] = dot(q3, cj)
		}
	}
	for ; i < nq; i++ {
		qi := q[i*dim : i*dim+dim]
		for j := 0; j < nc; j++ {
			dst[i*nc+j] = dot(qi, c[j*dim:j*dim+dim])
		}
	}
}

// block4x4 writes the 16 products of q0..q3 with the four rows of c into dst
// (row stride ld).
func block4x4(dst []float32, ld int, q0, q1, q2, q3, c []float32, dim int) {
	c0 := c[0:dim]
	c1 := c[dim : 2*dim]
	c2 := c[2*dim : 3*dim]
	c3 := c[3*dim : 4*dim]
	q1 = q1[:len(q0)]
	q2 = q2[:len(q0)]
	q3 = q3[:len(q0)]
	c0 = c0[:len(q0)]
	c1 = c1[:len(q0)]
	c2 = c2[:len(q0)]
	c3 = c3[:len(q0)]
	var s00, s01, s02, s03, s10, s11, s12, s13 float32
	var s20, s21, s22, s23, s30, s31, s32, s33 float32
	for d := range q0 {
		a0, a1, a2, a3 := q0[d], q1[d], q2[d], q3[d]
		b0, b1, b2, b3 := c0[d], c1[d], c2[d], c3[d]
		s00 += float32(a0 * b0)
		s01 += float32(a0 * b1)
		s02 += float32(a0 * b2)
		s03 += float32(a0 * b3)
		s10 += float32(a1 * b0)
		s11 += float32(a1 * b1)
		s12 += float32(a1 * b2)
		s13 += float32(a1 * b3)
		s20 += float32(a2 * b0)
		s21 += float32(a2 * b1)
		s22 += float32(a2 * b2)
		s23 += float32(a2 * b3)
		s30 += float32(a3 * b0)
		s31 += float32(a3 * b1)
		s32 += float32(a3 * b2)
		s33 += float32(a3 * b3)
	}
	r0 := dst[0:4]
	r0[0], r0[1], r0[2], r0[3] = s00, s01, s02, s03
	r1 := dst[ld : ld+4]
	r1[0], r1[1], r1[2], r1[3] = s10, s11, s12, s13
	r2 := dst[2*ld : 2*ld+4]
	r2[0], r2[1], r2[2], r2[3] = s20, s21, s22, s23
	r3 := dst[3*ld : 3*ld+4]
	r3[0], r3[1], r3[2], r3[3] = s30, s31, s32, s33
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
