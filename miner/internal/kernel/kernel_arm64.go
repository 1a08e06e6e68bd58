//go:build arm64 && !purego

package kernel

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The NEON kernels of kernel_arm64.s (written by gen_asm_neon.go). fmaN<m>
// scores m query rows against one panel of 16 corpus rows with FMLA (by
// element): each pair is one chain of fused multiply-adds in dimension
// order, the arithmetic of fmaDot and of the x86 engines, so the scores are
// bit-identical to "avx512" and "avx2". dotSDOT<m> is the int8 prefilter
// kernel (SDOT, ARMv8.2 dot product) on a panel of 48 rows of signed bytes
// (SignedFormat); its integer sums are exact and its three roundings those
// of quantGoMicro, so its approximate scores equal those of every QEngine
// given the same integers. gatherV scores a row against 16 rows at a time in
// place, transposing four dimensions of four rows in registers so that each
// FMLA extends four rows' chains by one dimension, in order.

//go:noescape
func fmaN1(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaN2(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaN3(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaN4(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaN5(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func dotSDOT1(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotSDOT2(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotSDOT3(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotSDOT4(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotSDOT5(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func gatherV(dst *float32, q *float32, c *float32, idx *int32, groups int, dim int)

type neonAsm = func(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

// neonMicro turns the assembly kernels (index = query rows) into Engine
// micro-kernels. Engine.Scores has checked the slice bounds.
func neonMicro(fs ...neonAsm) []func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int) {
	out := make([]func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int), len(fs)+1)
	for i, f := range fs {
		out[i+1] = func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int) {
			f(unsafe.SliceData(dst), ldd, unsafe.SliceData(q), ldq, unsafe.SliceData(p), dim)
		}
	}
	return out
}

// neonGather is the Engine's gather; Engine.Gather has checked the bounds.
func neonGather(dst, q, c []float32, idx []int32, groups, dim int) {
	gatherV(unsafe.SliceData(dst), unsafe.SliceData(q), unsafe.SliceData(c), unsafe.SliceData(idx), groups, dim)
}

// newNEON returns a float engine on the NEON kernels. "neon" and "neon-dot"
// share them (and so their scores); they differ in the int8 prefilter that
// comes with them (pairedQuant).
func newNEON(name string) *Engine {
	return &Engine{Name: name, Panel: 16, pair: fmaDot,
		micro:  neonMicro(fmaN1, fmaN2, fmaN3, fmaN4, fmaN5),
		gather: neonGather, gatherWidth: 16}
}

var (
	neonEngine    = newNEON("neon")
	neonDotEngine = newNEON("neon-dot")
)

// Every arm64 CPU has Advanced SIMD (ASIMD) with fused multiply-add; the dot
// product instructions (FEAT_DotProd: Graviton 2 and later, Apple M1 and
// later, Ampere Altra) are optional.
var hasDotProd = cpu.ARM64.HasASIMDDP

func simdEngines() []*Engine {
	if !cpu.ARM64.HasASIMD {
		return nil
	}
	if hasDotProd {
		return []*Engine{neonDotEngine, neonEngine}
	}
	return []*Engine{neonEngine}
}

type sdotAsm = func(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

func sdotMicro(fs ...sdotAsm) []func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
	out := make([]func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32), len(fs)+1)
	for i, f := range fs {
		out[i+1] = func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
			f(unsafe.SliceData(dst), ldd, unsafe.SliceData(q), ldq, unsafe.SliceData(p), steps,
				unsafe.SliceData(corr), unsafe.SliceData(qs), unsafe.SliceData(cs))
		}
	}
	return out
}

var sdotEngine = &QEngine{Name: "neon-sdot", format: SignedFormat,
	micro: sdotMicro(dotSDOT1, dotSDOT2, dotSDOT3, dotSDOT4, dotSDOT5)}

func quantEngines() []*QEngine {
	if hasDotProd && cpu.ARM64.HasASIMD {
		return []*QEngine{sdotEngine}
	}
	return nil
}

// pairedQuant is the int8 engine that runs with float engine e: the SDOT
// prefilter with "neon-dot"; none with "neon", whose search runs exact.
func pairedQuant(e *Engine) *QEngine {
	if e == neonDotEngine {
		return sdotEngine
	}
	return nil
}

//go:noescape
func firstAtLeastN(x *float32, n int, thr float32) int

// FirstAtLeast returns the index of the first x[i] ≥ thr, or len(x); x holds
// no NaN. The search calls it on every row of scores, so NEON compares 16
// values a step (firstAtLeastN finds the block) and Go finishes the scan.
func FirstAtLeast(x []float32, thr float32) int {
	i := 0
	if len(x) >= 16 {
		i = firstAtLeastN(unsafe.SliceData(x), len(x), thr)
	}
	return i + firstAtLeastGo(x[i:], thr)
}

// AtLeast sets bit i%64 of mask[i/64] where x[i] ≥ thr and clears the
// other bits of mask's first (len(x)+63)/64 words; x holds no NaN. On arm64
// it is FirstAtLeast's NEON scan from one marked value to the next.
func AtLeast(mask []uint64, x []float32, thr float32) { atLeastGo(mask, x, thr) }
