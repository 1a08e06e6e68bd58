package kernel

import (
	"math/rand/v2"
	"strconv"
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

// BenchmarkEngine measures each engine's Scores on a block sized as the
// search uses it (64 queries against an L2-sized packed block), in GFLOP/s
// on one core.
func BenchmarkEngine(b *testing.B) {
	for _, e := range Engines() {
		for _, dim := range benchDims {
			b.Run(e.Name+"/d="+strconv.Itoa(dim), func(b *testing.B) {
				nq, nc := 64, e.Padded(256*384/dim)
				r := rand.New(rand.NewPCG(1, 1))
				q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
				packed := make([]float32, e.PackedLen(nc, dim))
				e.Pack(packed, c, nc, dim)
				dst := make([]float32, nq*nc)
				for b.Loop() {
					e.Scores(dst, nc, q, nq, dim, packed, nc)
				}
				b.ReportMetric(2*float64(nq*nc*dim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkQEngine measures each int8 engine's Scores on a block sized as
// the quantized search uses it, in giga multiply-adds ×2 per second (the
// unit of BenchmarkEngine, so the two compare), on one core.
func BenchmarkQEngine(b *testing.B) {
	for _, e := range QEngines() {
		if e == QuantGo {
			continue
		}
		for _, dim := range []int{384, 768} {
			b.Run(e.Name+"/d="+strconv.Itoa(dim), func(b *testing.B) {
				nq, nc := 48, 384<<10/dim/QuantPanel*QuantPanel
				r := rand.New(rand.NewPCG(1, 1))
				q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
				z := QuantizeQueries(q, nq, dim, e.Format())
				var blk QuantBlock
				blk.Reset(nc, dim, e.Format())
				blk.SetNorms(blk.PackPanels(c, 0, blk.Panels()))
				dst := make([]float32, nq*nc)
				for b.Loop() {
					e.Scores(dst, nc, z, 0, nq, &blk, 0, blk.Panels())
				}
				b.ReportMetric(2*float64(nq*nc*dim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// benchDims are the dimensions of BenchmarkEngine: the two of the README's
// table, and a small one whose micro-panels all fit in L1.
var benchDims = []int{128, 384, 768}

// BenchmarkGather measures each engine's Gather as the quantized search's
// rescoring uses it: one query against 64 rows picked at random from an
// L2-sized block, in GFLOP/s on one core. At d = 1024 every row starts at
// the same address modulo 4 KiB, and so, often, does the query.
func BenchmarkGather(b *testing.B) {
	benchmarkGather(b, []int{384, 768, 1024}, 384<<10, 1) // 1024: rows at 4 KiB strides
}

// BenchmarkGatherL3 is BenchmarkGather with the rows where the quantized
// search finds them: 64 rows a call picked at random from a 16 MiB block
// (in L3, not L2), different rows each call. At d = 768 the AVX2 Gather
// ran at 21–25 GFLOP/s here and 22 in the search (46.8M rows rescored in
// 3.24 s of CPU), against 30 in L2: the rescoring waits on fetching rows.
func BenchmarkGatherL3(b *testing.B) {
	benchmarkGather(b, []int{384, 768}, 16<<20, 4096)
}

// benchmarkGather runs Gather for every engine and dimension of dims on 64
// rows a call from a block of blockBytes, calls sets of them in turn.
func benchmarkGather(b *testing.B, dims []int, blockBytes, calls int) {
	for _, e := range Engines() {
		for _, dim := range dims {
			b.Run(e.Name+"/d="+strconv.Itoa(dim), func(b *testing.B) {
				const n = 64
				nc := blockBytes / 4 / dim
				r := rand.New(rand.NewPCG(1, 1))
				q, c := randVecs(r, 1, dim), randVecs(r, nc, dim)
				idx := make([]int32, n*calls)
				for i := range idx {
					idx[i] = int32(r.IntN(nc) * dim)
				}
				dst := make([]float32, n)
				i := 0
				for b.Loop() {
					e.Gather(dst, q, c, idx[i*n:(i+1)*n])
					i = (i + 1) % calls
				}
				b.ReportMetric(2*float64(n*dim)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkResidualDots measures the residual check's sums as the quantized
// search makes them: one query's residual against 64 rows a call picked at
// random from a block of row-major bytes, in L2 (384 KiB) or in L3 (16 MiB,
// where a search at d = 768 finds its candidates' rows), in ns a row on one
// core.
func BenchmarkResidualDots(b *testing.B) {
	for _, kib := range []int{384, 16 << 10} {
		b.Run(strconv.Itoa(kib)+"KiB/d=768", func(b *testing.B) {
			const dim, n, calls = 768, 64, 512
			nr := kib << 10 / dim
			r := rand.New(rand.NewPCG(1, 1))
			rows := make([]uint8, nr*dim)
			for i := range rows {
				rows[i] = uint8(r.IntN(128))
			}
			q := make([]int8, dim)
			for i := range q {
				q[i] = int8(r.IntN(129) - 64)
			}
			offs := make([]int32, n*calls)
			for i := range offs {
				offs[i] = int32(r.IntN(nr) * dim)
			}
			dst := make([]int32, n)
			i := 0
			for b.Loop() {
				ResidualDots(dst, q, rows, offs[i*n:(i+1)*n])
				i = (i + 1) % calls
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
		})
	}
}
