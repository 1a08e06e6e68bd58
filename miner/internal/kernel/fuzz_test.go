package kernel

import (
	"math"
	"math/rand/v2"
	"testing"
)

// FuzzQuantEnginesAgree builds queries and corpus rows of a shape the fuzz
// input picks (dimension, a common component, values of one sign, equal
// runs, spikes, zero rows) and checks that every int8 engine of this CPU
// scores them as the portable kernel does in the engine's format, bit for
// bit, and that the avx2 format's queries keep each sign of each lane set
// within QueryLaneSum, where its 16-bit sums would wrap. `go test` runs the
// seed corpus below; `go test -fuzz FuzzQuantEnginesAgree` explores further.
func FuzzQuantEnginesAgree(f *testing.F) {
	f.Add(uint64(1), uint64(0))
	f.Add(uint64(2), uint64(0x0f0f))
	f.Add(uint64(3), uint64(1<<20|7))
	f.Add(uint64(4), uint64(0xffff_ffff))
	f.Fuzz(func(t *testing.T, seed, knobs uint64) {
		r := rand.New(rand.NewPCG(seed, knobs))
		dim := 1 + int(knobs%97)
		if knobs&(1<<7) != 0 {
			dim = 16 * (1 + int(knobs>>8%64)) // whole lane groups, up to 1024
		}
		nq, nc := 1+r.IntN(9), 1+r.IntN(130)
		q, c := fuzzRows(r, nq, dim, knobs>>16), fuzzRows(r, nc, dim, knobs>>24)
		for _, e := range QEngines() {
			fm := e.Format()
			want := quantScores(QuantGoIn(fm), fm, q, c, nq, nc, dim)
			got := quantScores(e, fm, q, c, nq, nc, dim)
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%s d=%d: score %d is %v, portable %v", e.Name, dim, i, got[i], want[i])
				}
			}
		}
		z := QuantizeQueries(q, nq, dim, BytesFormat)
		for i := range nq {
			for key, sum := range laneSums(z, i) {
				if sum > BytesFormat.QueryLaneSum {
					t.Fatalf("d=%d query %d: lane set %d's values of sign %d sum to %d", dim, i, key[0], key[1], sum)
				}
			}
		}
	})
}

// fuzzRows returns n rows of dim values shaped by the bits of shape: a
// common component, one sign, runs of equal values, spikes, zero rows.
func fuzzRows(r *rand.Rand, n, dim int, shape uint64) []float32 {
	v := randVecs(r, n, dim)
	common := float32(shape & 7)
	for i := range v {
		if shape&8 != 0 {
			v[i] = float32(math.Abs(float64(v[i])))
		}
		v[i] += common
		if shape&16 != 0 && i%5 != 0 {
			v[i] = v[i-i%5] // runs of five equal values
		}
	}
	for i := 0; i < n && shape&32 != 0; i++ {
		v[i*dim+r.IntN(dim)] = float32(r.NormFloat64() * 1e3)
	}
	if shape&64 != 0 {
		clear(v[:dim])
	}
	return v
}
