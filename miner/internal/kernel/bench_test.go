package kernel

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkGo measures the kernel alone on a cache-resident block, in
// GFLOP/s (one core).
func BenchmarkGo(b *testing.B) {
	const nq, nc, dim = 32, 256, 384
	r := rand.New(rand.NewPCG(1, 1))
	q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
	dst := make([]float32, nq*nc)
	for b.Loop() {
		Go(dst, q, c, nq, nc, dim)
	}
	b.ReportMetric(2*nq*nc*dim*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
