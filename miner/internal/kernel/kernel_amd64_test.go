//go:build amd64 && !purego

package kernel

import (
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/cpu"
)

// TestFirstAtLeastAVX2 checks the AVX2 form of FirstAtLeast, which an
// AVX-512 machine runs only when forced to the avx2 engine, against the Go
// loop: every length up to 70 (whole steps and remainders), thresholds
// below, inside and above the values.
func TestFirstAtLeastAVX2(t *testing.T) {
	if !cpu.X86.HasAVX2 {
		t.Skip("no AVX2")
	}
	r := rand.New(rand.NewPCG(17, 18))
	inf := float32(math.Inf(1))
	for n := range 70 {
		x := randVecs(r, 1, n)
		for _, thr := range []float32{-inf, -1, 0, 0.5, 2, inf} {
			if got, want := firstAtLeastAVX2(x, thr), firstAtLeastGo(x, thr); got != want {
				t.Fatalf("n %d thr %v: %d, want %d", n, thr, got, want)
			}
		}
	}
}
