package kernel

import (
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/selfexec"
)

// engineShapes cover every micro-tile height (up to 8 query rows and a
// remainder), partial panels, and dimensions that are not a multiple of the
// unrolling.
var engineShapes = []struct{ nq, nc, dim int }{
	{1, 1, 1}, {2, 3, 2}, {5, 7, 3}, {8, 48, 4}, {9, 49, 5}, {17, 100, 17},
	{13, 97, 384}, {6, 16, 33}, {7, 15, 768}, {3, 0, 4}, {0, 5, 4},
	{5, 20, 257}, {7, 33, 1001},
}

// TestEnginesMatchPair checks the promise of every engine this CPU runs:
// each score in a block equals, bit for bit, the engine's plain-Go pair
// arithmetic, whatever the block shape and the pair's place in it.
func TestEnginesMatchPair(t *testing.T) {
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			for _, s := range engineShapes {
				q, c := randVecs(r, s.nq, s.dim), randVecs(r, s.nc, s.dim)
				got := blockScores(e, q, c, s.nq, s.nc, s.dim)
				viaFunc := make([]float32, s.nq*s.nc)
				e.Func()(viaFunc, q, c, s.nq, s.nc, s.dim)
				for i := range s.nq {
					for j := range s.nc {
						want := e.Pair(q[i*s.dim:(i+1)*s.dim], c[j*s.dim:(j+1)*s.dim])
						if g := got[i*s.nc+j]; math.Float32bits(g) != math.Float32bits(want) {
							t.Fatalf("%+v pair (%d,%d): block %v, pair %v", s, i, j, g, want)
						}
						if g := viaFunc[i*s.nc+j]; math.Float32bits(g) != math.Float32bits(want) {
							t.Fatalf("%+v pair (%d,%d): Func %v, pair %v", s, i, j, g, want)
						}
					}
				}
			}
		})
	}
}

// blockScores packs c and scores q against it with e, returning the nq×nc
// scores without padding.
func blockScores(e *Engine, q, c []float32, nq, nc, dim int) []float32 {
	packed := make([]float32, e.PackedLen(nc, dim))
	e.Pack(packed, c, nc, dim)
	ldd := e.Padded(nc) + 3 // a stride wider than the row, as the search may use
	dst := make([]float32, max(0, nq*ldd))
	for i := range dst {
		dst[i] = float32(math.NaN())
	}
	e.Scores(dst, ldd, q, nq, dim, packed, nc)
	out := make([]float32, nq*nc)
	for i := range nq {
		copy(out[i*nc:(i+1)*nc], dst[i*ldd:])
	}
	return out
}

// TestEnginesNearFloat64 checks every engine against a float64 reference
// within the error bound of a float32 sum of dim products:
// |s - exact| <= γ(dim+1)·Σ|a_k·b_k|, γ(n) = n·u/(1-n·u), u = 2^-24.
func TestEnginesNearFloat64(t *testing.T) {
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, 4))
			for _, dim := range []int{1, 7, 64, 384, 768, 1536} {
				const nq, nc = 9, 50
				q, c := randVecs(r, nq, dim), randVecs(r, nc, dim)
				// A spread of magnitudes, so that cancellation happens.
				for k := range c {
					c[k] *= float32(math.Ldexp(1, r.IntN(20)-10))
				}
				got := blockScores(e, q, c, nq, nc, dim)
				u := math.Ldexp(1, -24)
				gamma := float64(dim+1) * u / (1 - float64(dim+1)*u)
				for i := range nq {
					for j := range nc {
						var exact, abs float64
						for k := range dim {
							p := float64(q[i*dim+k]) * float64(c[j*dim+k])
							exact += p
							abs += math.Abs(p)
						}
						if d := math.Abs(float64(got[i*nc+j]) - exact); d > gamma*abs {
							t.Fatalf("dim %d pair (%d,%d): %v differs from %v by %g > %g", dim, i, j, got[i*nc+j], exact, d, gamma*abs)
						}
					}
				}
			}
		})
	}
}

// TestFMADoubleRounding checks the emulated FMA where a float64 sum lands
// exactly halfway between two float32 values: (1+2⁻²³)·2⁻²⁴(1−2⁻²³) +
// (1+2⁻²³) lies just below the midpoint 1+2⁻²³+2⁻²⁴, so the correct result
// is 1+2⁻²³, while rounding through float64 gives 1+2⁻²² (ties to even). The
// SIMD engines must agree with the emulation.
func TestFMADoubleRounding(t *testing.T) {
	a := float32(1 + math.Ldexp(1, -23))
	b := float32(math.Ldexp(1-math.Ldexp(1, -23), -24))
	if got := fma32(a, b, a); got != a {
		t.Fatalf("fma32 = %v, want %v", got, a)
	}
	if naive := float32(float64(a)*float64(b) + float64(a)); naive == a {
		t.Fatalf("the case does not exercise double rounding")
	}
	q := []float32{1, a}
	c := []float32{a, b}
	for _, e := range Engines() {
		if e.pair(q, c) != fmaDot(q, c) {
			continue // an engine with separate roundings
		}
		if got := blockScores(e, q, c, 1, 1, 2)[0]; got != a {
			t.Errorf("%s: %v, want %v", e.Name, got, a)
		}
	}
}

// TestPackLayout checks the panel layout that the assembly reads, for the
// panel widths of the engines (the AVX2 transposition takes whole groups of 8
// rows × 8 dimensions, the rest goes through Go) and padding written over
// whatever dst held.
func TestPackLayout(t *testing.T) {
	for _, w := range []int{4, 16, 48} {
		e := &Engine{Name: "test", Panel: w}
		for _, nc := range []int{1, 6, 8, 13, 16, 50, 97} {
			for _, dim := range []int{3, 8, 12, 17, 64} {
				c := make([]float32, nc*dim)
				for i := range c {
					c[i] = float32(i + 1)
				}
				dst := make([]float32, e.PackedLen(nc, dim))
				for i := range dst {
					dst[i] = -1
				}
				e.Pack(dst, c, nc, dim)
				for i, got := range dst {
					p, k, r := i/(dim*w), i/w%dim, i%w
					want := float32(0)
					if row := p*w + r; row < nc {
						want = c[row*dim+k]
					}
					if got != want {
						t.Fatalf("panel %d rows × %d × %d: panel %d dim %d lane %d: %v, want %v", w, nc, dim, p, k, r, got, want)
					}
				}
			}
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("go"); err != nil {
		t.Fatal(err)
	}
	_, err := Lookup("sse9")
	if err == nil || !strings.Contains(err.Error(), "go") {
		t.Fatalf("Lookup(sse9): %v, want an error listing the engines", err)
	}
	if Engines()[len(Engines())-1] != GoEngine {
		t.Fatal("the portable engine is not the last resort")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("an unknown HARDNEG_KERNEL did not panic")
			}
		}()
		selectEngine("sse9")
	}()
	if selectEngine("") != Engines()[0] || selectEngine("go") != GoEngine {
		t.Fatal("selectEngine does not pick the fastest by default and the named one when asked")
	}
}

// TestEnvSelectsEngine runs this test binary again with HARDNEG_KERNEL set
// to each available engine and checks that the process selected it.
func TestEnvSelectsEngine(t *testing.T) {
	if name := os.Getenv("HARDNEG_KERNEL_CHILD"); name != "" {
		if Selected.Name != name {
			t.Fatalf("HARDNEG_KERNEL=%s selected %s", name, Selected.Name)
		}
		return
	}
	for _, e := range Engines() {
		cmd := selfexec.Command("-test.run", "^TestEnvSelectsEngine$", "-test.count=1")
		cmd.Env = append(os.Environ(), EnvVar+"="+e.Name, "HARDNEG_KERNEL_CHILD="+e.Name)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", e.Name, err, out)
		}
	}
}

// TestGatherMatchesPair checks that scoring rows in place, at any offsets,
// gives the engine's pair scores bit for bit.
func TestGatherMatchesPair(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, e := range Engines() {
		for _, dim := range []int{1, 5, 7, 12, 16, 24, 37, 47, 72, 73, 384, 1024} {
			const nc = 70
			q, c := randVecs(r, 1, dim), randVecs(r, nc, dim)
			for _, n := range []int{1, 16, 31, 32, 33, 100} {
				w := e.GatherWidth()
				idx := make([]int32, (n+w-1)/w*w)
				for i := range idx {
					idx[i] = int32(r.IntN(nc) * dim)
					if i >= n {
						idx[i] = idx[n-1]
					}
				}
				dst := make([]float32, len(idx))
				e.Gather(dst, q, c, idx)
				for i := range n {
					want := e.Pair(q, c[idx[i]:int(idx[i])+dim])
					if math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Fatalf("%s dim %d n %d row %d: %v, want %v", e.Name, dim, n, i, dst[i], want)
					}
				}
			}
		}
	}
}

func TestFirstAtLeast(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	inf := float32(math.Inf(1))
	for n := range 70 {
		x := randVecs(r, 1, n)
		for _, thr := range []float32{-inf, -1, 0, 0.5, 2, inf} {
			want := firstAtLeastGo(x, thr)
			if got := FirstAtLeast(x, thr); got != want {
				t.Fatalf("n %d thr %v: %d, want %d", n, thr, got, want)
			}
			if want < n && x[want] < thr || want > 0 && want < n && x[want-1] >= thr {
				t.Fatalf("n %d thr %v: reference %d is wrong", n, thr, want)
			}
		}
	}
}

// TestAtLeast checks AtLeast's marks against a comparison of every value,
// on lengths across the 64-value words and the tail: the words it covers
// cleared of stale marks, the word after them untouched.
func TestAtLeast(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	inf := float32(math.Inf(1))
	for n := range 200 {
		x := randVecs(r, 1, n)
		for _, thr := range []float32{-inf, -1, 0, 0.1, 0.5, 2, inf} {
			words := (n + 63) / 64
			mask := make([]uint64, words+1)
			for i := range mask {
				mask[i] = ^uint64(0)
			}
			AtLeast(mask, x, thr)
			for i := range words * 64 {
				want := i < n && x[i] >= thr
				if got := mask[i/64]>>(i%64)&1 == 1; got != want {
					t.Fatalf("n %d thr %v: bit %d is %v, want %v", n, thr, i, got, want)
				}
			}
			if mask[words] != ^uint64(0) {
				t.Fatalf("n %d thr %v: word %d past the marks changed", n, thr, words)
			}
		}
	}
}

// TestMaxAbs checks MaxAbs against the Go reference on every length up to
// 100 (the vector steps and their tails), that it reads nothing past the
// end, and that an infinity or a NaN anywhere makes it not below +Inf, the
// miner's check of its input.
func TestMaxAbs(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	inf := float32(math.Inf(1))
	bad := []float32{inf, -inf, float32(math.NaN())}
	for n := range 100 {
		x := randVecs(r, 1, n+1)
		x[n] = 1e30 // past the end: must not be read
		x = x[:n]
		if got, want := MaxAbs(x), math.Float32frombits(maxAbsBitsGo(x)); got != want || got >= inf {
			t.Fatalf("n %d: %v, want %v", n, got, want)
		}
		for i := range n {
			old := x[i]
			x[i] = bad[i%3]
			if MaxAbs(x) < inf {
				t.Fatalf("n %d: %v at %d not found", n, x[i], i)
			}
			x[i] = old
		}
	}
}
