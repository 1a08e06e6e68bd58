package kernel

import (
	"math/rand/v2"
	"testing"
)

func randVecs(r *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// TestGoMatchesPairwise checks the kernel's promise: every score equals the
// score of the pair computed alone, bit for bit, whatever the block shape.
func TestGoMatchesPairwise(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ nq, nc, dim int }{
		{1, 1, 1}, {4, 4, 8}, {5, 7, 3}, {9, 13, 384}, {3, 2, 17}, {8, 0, 4}, {0, 5, 4},
	} {
		q := randVecs(r, tc.nq, tc.dim)
		c := randVecs(r, tc.nc, tc.dim)
		dst := make([]float32, tc.nq*tc.nc)
		Go(dst, q, c, tc.nq, tc.nc, tc.dim)
		for i := 0; i < tc.nq; i++ {
			for j := 0; j < tc.nc; j++ {
				want := dot(q[i*tc.dim:(i+1)*tc.dim], c[j*tc.dim:(j+1)*tc.dim])
				one := make([]float32, 1)
				Go(one, q[i*tc.dim:(i+1)*tc.dim], c[j*tc.dim:(j+1)*tc.dim], 1, 1, tc.dim)
				if dst[i*tc.nc+j] != want || one[0] != want {
					t.Fatalf("%+v: pair (%d,%d): block %v, alone %v, dot %v", tc, i, j, dst[i*tc.nc+j], one[0], want)
				}
			}
		}
	}
}

func TestGoValues(t *testing.T) {
	q := []float32{1, 2, 3, -1, 0, 1}
	c := []float32{1, 1, 1, 2, 0, -1}
	dst := make([]float32, 4)
	Go(dst, q, c, 2, 2, 3)
	want := []float32{6, -1, 0, -3}
	for i := range want {
		if dst[i] != want[i] {
			t.Fatalf("dst = %v, want %v", dst, want)
		}
	}
}
