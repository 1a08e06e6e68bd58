package kernel

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"syscall"
	"testing"
	"time"
)

func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1, &ru) // RUSAGE_THREAD
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestZZCPU(t *testing.T) {
	runtime.LockOSThread()
	for _, e := range Engines()[:2] {
		for _, dim := range []int{128, 384, 768, 1536} {
			nq, nc := 48, e.Padded(384<<10/4/dim)
			r := rand.New(rand.NewPCG(1, 1))
			q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
			packed := make([]float32, e.PackedLen(nc, dim))
			e.Pack(packed, c, nc, dim)
			dst := make([]float32, nq*nc)
			best := 0.0
			for rep := 0; rep < 30; rep++ {
				t0 := threadCPU()
				n := 0
				for threadCPU()-t0 < 20*time.Millisecond {
					e.Scores(dst, nc, q, nq, dim, packed, nc)
					n++
				}
				g := 2 * float64(nq*nc*dim) * float64(n) / (threadCPU() - t0).Seconds() / 1e9
				best = max(best, g)
			}
			fmt.Printf("%s d=%d %.1f GFLOP/cpu-s\n", e.Name, dim, best)
		}
	}
	for _, e := range QEngines()[:3] {
		for _, dim := range []int{128, 384, 768} {
			nq, nc := 48, 384<<10/dim/QuantPanel*QuantPanel
			r := rand.New(rand.NewPCG(1, 1))
			q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
			z := QuantizeQueries(q, nq, dim)
			var blk QuantBlock
			blk.Reset(nc, dim)
			blk.SetNorms(blk.PackPanels(c, 0, blk.Panels()))
			dst := make([]float32, nq*nc)
			best := 0.0
			for rep := 0; rep < 30; rep++ {
				t0 := threadCPU()
				n := 0
				for threadCPU()-t0 < 20*time.Millisecond {
					e.Scores(dst, nc, z, 0, nq, &blk, 0, blk.Panels())
					n++
				}
				g := 2 * float64(nq*nc*dim) * float64(n) / (threadCPU() - t0).Seconds() / 1e9
				best = max(best, g)
			}
			fmt.Printf("q %s d=%d %.1f GFLOP/cpu-s\n", e.Name, dim, best)
		}
	}
}
