package kernel

import "math"

// fmaDot is the arithmetic of the SIMD engines written in Go: one sequential
// chain of fused multiply-adds, s = fma(a[k], b[k], s) from k = 0 with s = 0.
// It is slow (each step emulates a float32 FMA) and serves as the reference
// the SIMD kernels are tested against bit for bit.
func fmaDot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for k := range a {
		s = fma32(a[k], b[k], s)
	}
	return s
}

// fma32 returns a*b+c rounded once to float32 (ties to even), as the FMA
// instructions do. The product of two float32 values is exact in float64, so
// the only error of p+c in float64 is the one rounding of the sum; TwoSum
// recovers it exactly. Rounding that float64 sum to float32 is then correct
// unless it lies exactly halfway between two float32 values (a float64
// rounding cannot cross such a midpoint, as midpoints are float64 values, but
// it can land on one); there the sign of the recovered error says which way
// the exact value lies.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	bv := s - p
	e := (p - (s - bv)) + (float64(c) - bv) // s + e == p + c exactly
	r := float32(s)
	if e == 0 || float64(r) == s || math.IsInf(float64(r), 0) {
		return r
	}
	var o float32 // the float32 on the other side of s
	if float64(r) < s {
		o = math.Nextafter32(r, float32(math.Inf(1)))
	} else {
		o = math.Nextafter32(r, float32(math.Inf(-1)))
	}
	if s-float64(r) != float64(o)-s {
		return r // not a midpoint: the double rounding did no harm
	}
	if (e > 0) == (float64(o) > s) {
		return o
	}
	return r
}
