//go:build amd64 && !purego

package kernel

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The micro-kernels of kernel_amd64.s (written by gen_asm.go). fmaZ<m>
// scores m query rows against one panel of 48 corpus rows with AVX-512F,
// fmaY<m> against 16 rows with AVX2+FMA; dotVNNI<m> is the int8 prefilter
// kernel (AVX-512 VNNI) on a panel of 48 rows.

//go:noescape
func fmaZ1(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ2(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ3(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ4(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ5(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ6(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ7(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaZ8(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaY1(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaY2(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaY3(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaY4(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaY5(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func fmaY6(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

//go:noescape
func dotVNNI1(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI2(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI3(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI4(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI5(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI6(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI7(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotVNNI8(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func gatherT(dst *float32, q *float32, c *float32, idx *int32, groups int, chunks int, rem int)

// gatherAVX512 is the AVX-512 Gather: rows transposed in registers.
func gatherAVX512(dst, q, c []float32, idx []int32, groups, dim int) {
	gatherT(unsafe.SliceData(dst), unsafe.SliceData(q), unsafe.SliceData(c), unsafe.SliceData(idx), groups, dim/16, dim%16)
}

//go:noescape
func gatherY(dst *float32, q *float32, c *float32, idx *int32, groups int, dim int)

// wrapGather turns a gather kernel into the Engine's form; Engine.Gather has
// checked the bounds.
func wrapGather(f func(dst *float32, q *float32, c *float32, idx *int32, groups int, dim int)) func(dst, q, c []float32, idx []int32, groups, dim int) {
	return func(dst, q, c []float32, idx []int32, groups, dim int) {
		f(unsafe.SliceData(dst), unsafe.SliceData(q), unsafe.SliceData(c), unsafe.SliceData(idx), groups, dim)
	}
}

type fmaAsm = func(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)

// wrapFMA turns the assembly kernels (index = query rows) into Engine
// micro-kernels. Engine.Scores has checked the slice bounds.
func wrapFMA(fs ...fmaAsm) []func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int) {
	out := make([]func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int), len(fs)+1)
	for i, f := range fs {
		out[i+1] = func(dst []float32, ldd int, q []float32, ldq int, p []float32, dim int) {
			f(unsafe.SliceData(dst), ldd, unsafe.SliceData(q), ldq, unsafe.SliceData(p), dim)
		}
	}
	return out
}

var (
	avx512Engine = &Engine{Name: "avx512", Panel: 48, pair: fmaDot,
		micro:  wrapFMA(fmaZ1, fmaZ2, fmaZ3, fmaZ4, fmaZ5, fmaZ6, fmaZ7, fmaZ8),
		gather: gatherAVX512, gatherWidth: 16}
	avx2Engine = &Engine{Name: "avx2", Panel: 16, pair: fmaDot,
		micro:  wrapFMA(fmaY1, fmaY2, fmaY3, fmaY4, fmaY5, fmaY6),
		gather: wrapGather(gatherY), gatherWidth: 16}
)

func simdEngines() []*Engine {
	var es []*Engine
	if cpu.X86.HasAVX512F && cpu.X86.HasBMI2 { // BMI2 for SHLX, which every AVX-512 CPU has
		es = append(es, avx512Engine)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		es = append(es, avx2Engine)
	}
	return es
}

type vnniAsm = func(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

func wrapVNNI(fs ...vnniAsm) []func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
	out := make([]func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32), len(fs)+1)
	for i, f := range fs {
		out[i+1] = func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
			f(unsafe.SliceData(dst), ldd, unsafe.SliceData(q), ldq, unsafe.SliceData(p), steps,
				unsafe.SliceData(corr), unsafe.SliceData(qs), unsafe.SliceData(cs))
		}
	}
	return out
}

var vnniEngine = &QEngine{Name: "avx512vnni",
	micro: wrapVNNI(dotVNNI1, dotVNNI2, dotVNNI3, dotVNNI4, dotVNNI5, dotVNNI6, dotVNNI7, dotVNNI8)}

func quantEngines() []*QEngine {
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		return []*QEngine{vnniEngine}
	}
	return nil
}

//go:noescape
func firstAtLeastZ(x *float32, n int, thr float32) int

// FirstAtLeast returns the index of the first x[i] ≥ thr, or len(x); x holds
// no NaN.
func FirstAtLeast(x []float32, thr float32) int {
	if useAVX512 && len(x) >= 16 {
		return firstAtLeastZ(unsafe.SliceData(x), len(x), thr)
	}
	return firstAtLeastGo(x, thr)
}

var useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasBMI2

//go:noescape
func allFiniteZ(x *float32, n int) bool

// AllFinite reports whether x holds no infinity and no NaN.
func AllFinite(x []float32) bool {
	if useAVX512 {
		return allFiniteZ(unsafe.SliceData(x), len(x))
	}
	return allFiniteGo(x)
}
