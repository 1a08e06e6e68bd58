package kernel

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/selfexec"
)

// edgeBlock builds queries and a packed block in format f from raw
// quantized values, bypassing the quantizer, so that the kernels see bytes
// the quantizer never writes (−128 in a query, 0 and 255 in the corpus:
// c̃ = −128 and 127 in DefaultFormat).
func edgeBlock(q, c []int8, nq, nc, dim int, f QuantFormat, qs, cs []float32) (*QuantQueries, *QuantBlock) {
	stride := (dim + 3) &^ 3
	z := &QuantQueries{Rows: nq, Dim: dim, Format: f, Stride: stride, Data: make([]int8, nq*stride),
		Scale: qs, Corr: make([]int32, nq)}
	for i := range nq {
		var sum int32
		for k := range dim {
			z.Data[i*stride+k] = q[i*dim+k]
			sum += int32(q[i*dim+k])
		}
		z.Corr[i] = -int32(f.Offset) * sum
	}
	var b QuantBlock
	b.Reset(nc, dim, f)
	off := int32(f.Offset)
	clear(b.Data)
	copy(b.Scale, cs)
	w := QuantPanel
	for row := range nc {
		p, r := row/w, row%w
		for k := range stride {
			v := uint8(off) // c̃ = 0 in the padding
			if k < dim {
				v = uint8(int32(c[row*dim+k]) + off)
			}
			b.Data[p*w*stride+((k/4)*w+r)*4+k%4] = v
		}
	}
	for row := nc; row < len(b.Scale); row++ {
		for k := range stride {
			b.Data[(row/w)*w*stride+((k/4)*w+row%w)*4+k%4] = uint8(off)
		}
	}
	return z, &b
}

// TestQuantEdgeValues checks every int8 engine against a scalar reference
// (int64 sums, then the two float32 roundings) at the edges of the byte
// range: all −128 or 127 (VPDPBUSD's 32-bit sums must not wrap), mixed
// signs, and the largest dimension, where the sums approach 2³⁰. An engine
// that takes smaller integers (avx2: corpus bytes of 0…127, and its 16-bit
// sums of eight products one short of wrapping where the values of one
// sign in a query's lane set sum to 258) gets the values clamped to its
// range, so that its edges are the ones tested.
func TestQuantEdgeValues(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	fill := map[string]func(i int) (q, c int8){
		"all -128":      func(int) (int8, int8) { return -128, -128 },
		"-128 by 127":   func(int) (int8, int8) { return -128, 127 },
		"127 by 127":    func(int) (int8, int8) { return 127, 127 },
		"alternating":   func(i int) (int8, int8) { return int8(-128 + 255*(i%2)), int8(127 - 255*(i/3%2)) },
		"random bytes":  func(int) (int8, int8) { return int8(r.IntN(256) - 128), int8(r.IntN(256) - 128) },
		"random ±edges": func(int) (int8, int8) { return int8(-128 + 255*r.IntN(2)), int8(-128 + 255*r.IntN(2)) },
	}
	for name, f := range fill {
		for _, s := range []struct{ nq, nc, dim int }{{7, 50, 5}, {13, 97, 384}, {6, 48, 8}, {2, 3, QuantMaxDim}} {
			q, c := make([]int8, s.nq*s.dim), make([]int8, s.nc*s.dim)
			for i := range max(len(q), len(c)) {
				a, b := f(i)
				if i < len(q) {
					q[i] = a
				}
				if i < len(c) {
					c[i] = b
				}
			}
			qs, cs := make([]float32, s.nq), make([]float32, (s.nc+QuantPanel-1)/QuantPanel*QuantPanel)
			for i := range qs {
				qs[i] = float32(r.Float64() + 0.5)
			}
			for i := range s.nc {
				cs[i] = float32(r.Float64() + 0.5)
			}
			for _, e := range QEngines() {
				checkEdge(t, e, e.Format(), fmt.Sprintf("%s %s %+v", e.Name, name, s), q, c, s.nq, s.nc, s.dim, qs, cs)
			}
			// The portable kernel's other reading of the bytes, which
			// arm64's SDOT engine takes.
			checkEdge(t, QuantGo, SignedFormat, fmt.Sprintf("go (signed) %s %+v", name, s), q, c, s.nq, s.nc, s.dim, qs, cs)
		}
	}
}

// checkEdge scores the raw quantized rows q and c in format f with engine
// e, the corpus bytes clamped to e's range and the queries to f's lane cap,
// and compares with a scalar reference.
func checkEdge(t *testing.T, e *QEngine, f QuantFormat, name string, q, c []int8, nq, nc, dim int, qs, cs []float32) {
	t.Helper()
	lo, hi := -f.Offset, e.maxByte()-f.Offset // the byte c̃ + Offset within 0…maxByte
	if f.Offset == 0 {
		lo, hi = -128, 127 // c̃ itself, a signed byte
	}
	q, c = slices.Clone(q), slices.Clone(c)
	capLaneSums(q, dim, f.QueryLaneSum)
	for i, v := range c {
		c[i] = int8(max(lo, min(hi, int(v))))
	}
	z, b := edgeBlock(q, c, nq, nc, dim, f, qs, cs)
	ldd := b.Panels()*QuantPanel + 1
	dst := make([]float32, nq*ldd)
	e.Scores(dst, ldd, z, 0, nq, b, 0, b.Panels())
	for i := range nq {
		for j := range nc {
			var sum int64
			for k := range dim {
				sum += int64(q[i*dim+k]) * int64(c[j*dim+k])
			}
			want := float32(sum) * cs[j] * qs[i]
			if got := dst[i*ldd+j]; math.Float32bits(got) != math.Float32bits(want) {
				t.Fatalf("%s pair (%d,%d): %v, want %v (sum %d)", name, i, j, got, want, sum)
			}
		}
	}
}

// capLaneSums lowers the values of the rows q (dim each) where the
// positive values of a lane set (bytesLaneSet), or the magnitudes of its
// negative ones, would sum to more than limit (0: none), keeping the first
// ones whole: a set of 127s becomes 127, 127, 4, 0, 0, 0, 0, 0 at the cap
// of 258, the most the avx2 kernel's 16-bit sums take.
func capLaneSums(q []int8, dim, limit int) {
	if limit == 0 {
		return
	}
	stride := (dim + 3) &^ 3
	for i := 0; i < len(q); i += dim {
		used := map[[2]int]int{} // by set and sign
		for k := range dim {
			set := bytesLaneSet(k, stride)
			if set < 0 {
				break
			}
			v, sign := int(q[i+k]), 1
			if v < 0 {
				sign = -1
			}
			key := [2]int{set, sign}
			mag := min(v*sign, limit-used[key])
			used[key] += mag
			q[i+k] = int8(sign * mag)
		}
	}
}

// TestQuantSelection checks which int8 engine goes with each float engine:
// AVX2 gets an int8 engine wherever the CPU has AVX2 (the prefilter must
// not fall back to exact there), AVX-512 only AVX-512 VNNI, and a forced
// name wins.
func TestQuantSelection(t *testing.T) {
	if e, err := Lookup("avx2"); err == nil {
		q := selectQuant(e, "")
		if q == nil || q.Name != "avxvnni" && q.Name != "avx2" {
			t.Fatalf("avx2 float engine: int8 engine %v, want avxvnni or avx2", q)
		}
		if avx := firstQuant("avxvnni"); avx != nil && q != avx {
			t.Fatalf("avx2 float engine on an AVX-VNNI CPU: %s", q.Name)
		}
	}
	if e, err := Lookup("avx512"); err == nil {
		if q := selectQuant(e, ""); q != nil && q.Name != "avx512vnni" {
			t.Fatalf("avx512 float engine: int8 engine %s", q.Name)
		}
	}
	if q := selectQuant(GoEngine, ""); q != QuantGo {
		t.Fatalf("go float engine: int8 engine %v", q)
	}
	for _, q := range QEngines() {
		if got := selectQuant(GoEngine, q.Name); got != q {
			t.Fatalf("forcing %s selected %v", q.Name, got)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("an unknown int8 engine name did not panic")
		}
	}()
	selectQuant(GoEngine, "sse9")
}

// TestEnvSelectsQuantEngine runs this test binary again with
// HARDNEG_QUANT_KERNEL set to each int8 engine, and with HARDNEG_KERNEL=avx2
// alone, and checks what the process selected.
func TestEnvSelectsQuantEngine(t *testing.T) {
	if name := os.Getenv("HARDNEG_QUANT_CHILD"); name != "" {
		got := "none"
		if SelectedQuant != nil {
			got = SelectedQuant.Name
		}
		if got != name {
			t.Fatalf("selected int8 engine %s, want %s", got, name)
		}
		return
	}
	run := func(want string, env ...string) {
		cmd := selfexec.Command("-test.run", "^TestEnvSelectsQuantEngine$", "-test.count=1")
		// Without the engines this process was given (a run of the suite
		// with HARDNEG_QUANT_KERNEL set), so the child selects from env alone.
		parent := slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, EnvVar+"=") || strings.HasPrefix(kv, QuantEnvVar+"=")
		})
		cmd.Env = append(append(parent, env...), "HARDNEG_QUANT_CHILD="+want)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", env, err, out)
		}
	}
	for _, q := range QEngines() {
		run(q.Name, QuantEnvVar+"="+q.Name)
	}
	if e, err := Lookup("avx2"); err == nil {
		run(selectQuant(e, "").Name, EnvVar+"=avx2")
	}
}
