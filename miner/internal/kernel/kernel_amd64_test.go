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

//go:noescape
func peakFMAY(n int)

//go:noescape
func peakBytesY(n int)

// BenchmarkPeakAVX2 measures one core's ceiling for the AVX2 kernels: FMAs
// and the int8 kernel's three instructions back to back, in registers, in
// the units of BenchmarkEngine and BenchmarkQEngine (GFLOP/s; for bytes,
// two per product). The search cannot beat these; dividing them by FAISS's
// GFLOP/s per core bounds the ratio any AVX2 kernel could show against it
// (docs/performance.md).
func BenchmarkPeakAVX2(b *testing.B) {
	if !cpu.X86.HasAVX2 || !cpu.X86.HasFMA {
		b.Skip("no AVX2 and FMA")
	}
	const turns = 1 << 16
	b.Run("fma", func(b *testing.B) {
		for b.Loop() {
			peakFMAY(turns)
		}
		b.ReportMetric(float64(b.N)*turns*768/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
	b.Run("bytes", func(b *testing.B) {
		for b.Loop() {
			peakBytesY(turns)
		}
		b.ReportMetric(float64(b.N)*turns*2*768/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	})
}
