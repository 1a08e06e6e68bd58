package kernel

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func BenchmarkGatherCold(b *testing.B) {
	for _, e := range Engines() {
		for _, dim := range []int{384, 768} {
			b.Run(e.Name+"/d="+strconv.Itoa(dim), func(b *testing.B) {
				const n = 64
				nc := 16 << 20 / 4 / dim
				r := rand.New(rand.NewPCG(1, 1))
				q, c := randVecs(r, 1, dim), randVecs(r, nc, dim)
				const sets = 4096
				idx := make([]int32, n*sets)
				for i := range idx {
					idx[i] = int32(r.IntN(nc) * dim)
				}
				dst := make([]float32, n)
				i := 0
				for b.Loop() {
					e.Gather(dst, q, c, idx[i*n:i*n+n])
					i = (i + 1) % sets
				}
				b.ReportMetric(2*float64(n*dim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
