package kernel

import (
	"fmt"
	"os"
	"strings"
)

// Engine is a family of float32 kernels with one arithmetic. The search packs
// a block of corpus rows once (Pack) and scores many queries against it
// (Scores); Pair is the same arithmetic written plainly in Go, the reference
// the tests hold every kernel to, bit for bit.
type Engine struct {
	// Name is what HARDNEG_KERNEL calls the engine.
	Name string
	// Panel is the number of corpus rows packed side by side; packed blocks
	// and score rows are padded to a multiple of it.
	Panel int

	// micro scores query rows [0, mr) against one packed panel; nil for an
	// engine that works on row-major corpus rows (Panel 1) through block.
	micro []func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int)
	// block scores on row-major corpus rows (Panel 1 engines).
	block func(dst []float32, ldd int, q, c []float32, nq, nc, dim int)
	pair  func(a, b []float32) float32
	// gather scores q against GatherWidth rows per group (nil: pair per row).
	gather      func(dst, q, c []float32, idx []int32, groups, dim int)
	gatherWidth int
}

// Padded returns n rounded up to a multiple of e.Panel.
func (e *Engine) Padded(n int) int { return (n + e.Panel - 1) / e.Panel * e.Panel }

// PackedLen is the length of the buffer Pack needs for nc rows of dimension
// dim.
func (e *Engine) PackedLen(nc, dim int) int { return e.Padded(nc) * dim }

// Pack lays out the nc row-major rows of c for Scores: panels of e.Panel
// rows, dimension-major inside a panel (dst[(p*dim+k)*Panel+r] is element k
// of row p*Panel+r), the rows past nc zero. dst must hold PackedLen(nc, dim)
// values.
func (e *Engine) Pack(dst, c []float32, nc, dim int) {
	if len(dst) < e.PackedLen(nc, dim) || len(c) < nc*dim {
		panic(fmt.Sprintf("kernel: Pack of %d×%d into %d values from %d", nc, dim, len(dst), len(c)))
	}
	w := e.Panel
	if w == 1 {
		copy(dst, c[:nc*dim])
		return
	}
	for p0 := 0; p0 < nc; p0 += w {
		packPanel(dst[p0*dim:(p0+w)*dim], c[p0*dim:(p0+min(w, nc-p0))*dim], dim, w)
	}
}

// packGo writes into panel (w rows, dimension-major) dimensions [k0, k1)
// of rows [r0, n) of rows (n row-major rows of dim values), and zeros for
// those dimensions of the rows from n to w. It writes in order, a
// dimension of the rows at a time: the rows are read as w streams, each
// line of them used 16 times in a row from L1. Writing a row at a time
// instead, one value every w, took about as long as the search of a tile
// of 128 queries.
func packGo(panel, rows []float32, dim, w, r0, k0, k1 int) {
	n := len(rows) / dim
	for k := k0; k < k1; k++ {
		out := panel[k*w : k*w+w]
		for r := r0; r < n; r++ {
			out[r] = rows[r*dim+k]
		}
		clear(out[n:])
	}
}

// Scores writes the scores of the nq row-major query rows q against the nc
// rows packed in packed: dst[i*ldd+j] for j < Padded(nc) (the padding rows
// score 0). ldd must be at least Padded(nc).
func (e *Engine) Scores(dst []float32, ldd int, q []float32, nq, dim int, packed []float32, nc int) {
	if nq == 0 || nc == 0 {
		return
	}
	np := e.Padded(nc)
	if dim <= 0 || ldd < np || len(dst) < (nq-1)*ldd+np || len(q) < nq*dim || len(packed) < np*dim {
		panic(fmt.Sprintf("kernel: Scores %d×%d (dim %d, ldd %d) with %d scores, %d query values, %d packed",
			nq, nc, dim, ldd, len(dst), len(q), len(packed)))
	}
	if e.micro == nil {
		e.block(dst, ldd, q, packed, nq, nc, dim)
		return
	}
	mr := len(e.micro) - 1
	w := e.Panel
	// The query rows of one micro-tile stay in L1 while the panels stream
	// from L2; the caller sizes the packed block to fit L2.
	for i0 := 0; i0 < nq; i0 += mr {
		m := min(mr, nq-i0)
		f := e.micro[m]
		for p0 := 0; p0 < np; p0 += w {
			f(dst[i0*ldd+p0:], ldd, q[i0*dim:], dim, packed[p0*dim:], dim)
		}
	}
}

// GatherWidth is the multiple of rows that Gather scores at a time.
func (e *Engine) GatherWidth() int { return max(1, e.gatherWidth) }

// Gather scores the row q against the rows of c that start at the element
// offsets idx: dst[t] = Pair(q, c[idx[t]:idx[t]+len(q)]), with the engine's
// arithmetic, without packing the rows. len(idx) must be a multiple of
// GatherWidth (pad with any valid offset; those scores are extra) and dst at
// least as long.
func (e *Engine) Gather(dst, q, c []float32, idx []int32) {
	dim := len(q)
	if len(idx)%e.GatherWidth() != 0 || len(dst) < len(idx) {
		panic(fmt.Sprintf("kernel: Gather of %d rows (width %d) into %d scores", len(idx), e.GatherWidth(), len(dst)))
	}
	for _, o := range idx {
		if o < 0 || int(o)+dim > len(c) {
			panic(fmt.Sprintf("kernel: Gather offset %d outside %d values", o, len(c)))
		}
	}
	if e.gather == nil || dim == 0 || len(idx) == 0 {
		for t, o := range idx {
			dst[t] = e.pair(q, c[o:int(o)+dim])
		}
		return
	}
	e.gather(dst, q, c, idx, len(idx)/e.gatherWidth, dim)
}

// Pair scores one pair with the engine's arithmetic, in plain Go.
func (e *Engine) Pair(a, b []float32) float32 { return e.pair(a, b) }

// Func returns the engine as a Func on row-major corpus rows. For a packing
// engine each call packs c into a new buffer, so the search uses Pack and
// Scores directly; Func serves callers that score a few rows.
func (e *Engine) Func() Func {
	if e.micro == nil {
		return func(dst, q, c []float32, nq, nc, dim int) { e.block(dst, nc, q, c, nq, nc, dim) }
	}
	return func(dst, q, c []float32, nq, nc, dim int) {
		if nq == 0 || nc == 0 {
			return
		}
		np := e.Padded(nc)
		packed := make([]float32, np*dim)
		e.Pack(packed, c, nc, dim)
		if np == nc {
			e.Scores(dst, nc, q, nq, dim, packed, nc)
			return
		}
		tmp := make([]float32, nq*np)
		e.Scores(tmp, np, q, nq, dim, packed, nc)
		for i := range nq {
			copy(dst[i*nc:(i+1)*nc], tmp[i*np:])
		}
	}
}

// GoEngine is the portable engine: the Go kernel on row-major rows.
var GoEngine = &Engine{Name: "go", Panel: 1, block: goStrided, pair: dot}

// Engines lists the engines this CPU can run, fastest first.
func Engines() []*Engine { return available }

// Lookup returns the engine called name, or an error naming the engines this
// CPU can run.
func Lookup(name string) (*Engine, error) {
	var names []string
	for _, e := range available {
		if e.Name == name {
			return e, nil
		}
		names = append(names, e.Name)
	}
	return nil, fmt.Errorf("kernel %q is not available on this CPU (available: %s)", name, strings.Join(names, ", "))
}

// EnvVar is the environment variable that forces an engine.
const EnvVar = "HARDNEG_KERNEL"

// available is filled by the architecture's init (simdEngines), fastest
// first, ending with GoEngine.
var available = append(simdEngines(), GoEngine)

// Selected is the engine of this process: HARDNEG_KERNEL's, or else the
// fastest the CPU can run.
var Selected = selectEngine(os.Getenv(EnvVar))

func selectEngine(name string) *Engine {
	if name == "" || name == "auto" {
		return available[0]
	}
	e, err := Lookup(name)
	if err != nil {
		panic(fmt.Sprintf("%s=%s: %v", EnvVar, name, err))
	}
	return e
}

// FromFunc wraps a Func as an engine on row-major rows (Panel 1), for a
// caller that brings its own kernel.
func FromFunc(name string, f Func) *Engine {
	block := func(dst []float32, ldd int, q, c []float32, nq, nc, dim int) {
		if ldd == nc {
			f(dst[:nq*nc], q[:nq*dim], c[:nc*dim], nq, nc, dim)
			return
		}
		for i := range nq {
			f(dst[i*ldd:i*ldd+nc], q[i*dim:(i+1)*dim], c[:nc*dim], 1, nc, dim)
		}
	}
	pair := func(a, b []float32) float32 {
		var s [1]float32
		f(s[:], a, b, 1, 1, len(a))
		return s[0]
	}
	return &Engine{Name: name, Panel: 1, block: block, pair: pair}
}

// atLeastGo is AtLeast from FirstAtLeast, one marked value to the next:
// where few values are marked, a vector scan rather than a branch per
// value.
func atLeastGo(mask []uint64, x []float32, thr float32) {
	clear(mask[:(len(x)+63)/64])
	for j := FirstAtLeast(x, thr); j < len(x); j += 1 + FirstAtLeast(x[j+1:], thr) {
		mask[j/64] |= 1 << (j % 64)
	}
}

func firstAtLeastGo(x []float32, thr float32) int {
	for i, v := range x {
		if v >= thr {
			return i
		}
	}
	return len(x)
}
