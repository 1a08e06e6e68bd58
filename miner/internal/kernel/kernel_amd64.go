//go:build amd64 && !purego

package kernel

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// The micro-kernels of kernel_amd64.s (written by gen_asm.go). fmaZ<m>
// scores m query rows against one panel of 48 corpus rows with AVX-512F,
// fmaY<m> against 16 rows with AVX2+FMA; dotVNNI<m> is the int8 prefilter
// kernel (AVX-512 VNNI) on a panel of 48 rows, dotAVXVNNI<m> (AVX-VNNI) and
// dotBytes<m> (AVX2: VPMADDUBSW, VPADDW, VPMADDWD, VPADDD) the int8 kernels on 16
// rows of such a panel.

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
func dotAVXVNNI1(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotAVXVNNI2(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotAVXVNNI3(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotAVXVNNI4(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotAVXVNNI5(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotAVXVNNI6(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotBytes1(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotBytes2(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotBytes3(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

//go:noescape
func dotBytes4(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)

// expandBytes writes m query rows of q, ldq bytes apart, as dotBytes
// reads them: each step's four bytes eight times over (bytesKernel).
//
//go:noescape
func expandBytes(dst *int8, q *int8, ldq int, m int, steps int)

// expandQueries is the avx2 engine's QEngine.expand.
func expandQueries(dst, q []int8, ldq, m, steps int) {
	if len(dst) < m*steps*32 || len(q) < (m-1)*ldq+4*steps {
		panic("kernel: expandQueries out of range")
	}
	expandBytes(unsafe.SliceData(dst), unsafe.SliceData(q), ldq, m, steps)
}

//go:noescape
func gatherT(dst *float32, q *float32, c *float32, idx *int32, groups int, chunks int, rem int)

// gatherAVX512 is the AVX-512 Gather: rows transposed in registers.
func gatherAVX512(dst, q, c []float32, idx []int32, groups, dim int) {
	gatherT(unsafe.SliceData(dst), unsafe.SliceData(q), unsafe.SliceData(c), unsafe.SliceData(idx), groups, dim/16, dim%16)
}

//go:noescape
func gatherTY(dst *float32, q *float32, c *float32, idx *int32, groups int, chunks int, rem int)

// gatherAVX2 is the AVX2 Gather: groups of 8 rows transposed in registers.
func gatherAVX2(dst, q, c []float32, idx []int32, groups, dim int) {
	gatherTY(unsafe.SliceData(dst), unsafe.SliceData(q), unsafe.SliceData(c), unsafe.SliceData(idx), groups, dim/8, dim%8)
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
		gather: gatherAVX2, gatherWidth: 8}
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

// wrapSub turns int8 kernels on sub-panels of rows rows into QEngine
// micro-kernels on whole panels: one call per sub-panel, each reading its
// rows' bytes of every step of the panel.
func wrapSub(rows int, fs ...vnniAsm) []func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
	out := make([]func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32), len(fs)+1)
	for i, f := range fs {
		out[i+1] = func(dst []float32, ldd int, q []int8, ldq int, p []uint8, steps int, corr []int32, qs, cs []float32) {
			for r := 0; r < QuantPanel; r += rows {
				f(&dst[r], ldd, unsafe.SliceData(q), ldq, &p[4*r], steps,
					unsafe.SliceData(corr), unsafe.SliceData(qs), &cs[r])
			}
		}
	}
	return out
}

var (
	vnniEngine = &QEngine{Name: "avx512vnni",
		micro: wrapVNNI(dotVNNI1, dotVNNI2, dotVNNI3, dotVNNI4, dotVNNI5, dotVNNI6, dotVNNI7, dotVNNI8)}
	avxVNNIEngine = &QEngine{Name: "avxvnni",
		micro: wrapSub(16, dotAVXVNNI1, dotAVXVNNI2, dotAVXVNNI3, dotAVXVNNI4, dotAVXVNNI5, dotAVXVNNI6)}
	avx2QEngine = &QEngine{Name: "avx2", format: BytesFormat, byteMax: 127, expand: expandQueries,
		micro: wrapSub(16, dotBytes1, dotBytes2, dotBytes3, dotBytes4)}
)

// quantEngines lists the int8 engines of this CPU, fastest first. The
// AVX-512 one needs AVX-512F for its registers; AVX-VNNI (Intel Alder Lake,
// Sapphire Rapids and later; AMD Zen 5) is its 256-bit form without
// AVX-512; AVX2 alone takes three instructions for two of VPDPBUSD, on
// integers of 7 bits and a sign (BytesFormat).
func quantEngines() []*QEngine {
	var es []*QEngine
	if cpu.X86.HasAVX512F && cpu.X86.HasAVX512VNNI {
		es = append(es, vnniEngine)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasAVXVNNI {
		es = append(es, avxVNNIEngine)
	}
	if cpu.X86.HasAVX2 {
		es = append(es, avx2QEngine)
	}
	return es
}

//go:noescape
func firstAtLeastZ(x *float32, n int, thr float32) int

// FirstAtLeast returns the index of the first x[i] ≥ thr, or len(x); x holds
// no NaN.
func FirstAtLeast(x []float32, thr float32) int {
	switch {
	case useAVX512 && len(x) >= 16:
		return firstAtLeastZ(unsafe.SliceData(x), len(x), thr)
	case useAVX2 && len(x) >= 8:
		return firstAtLeastAVX2(x, thr)
	}
	return firstAtLeastGo(x, thr)
}

// AtLeast sets bit i%64 of mask[i/64] where x[i] ≥ thr and clears the
// other bits of mask's first (len(x)+63)/64 words; x holds no NaN. A scan
// that visits every value at least thr reads the bits (math/bits) instead
// of calling FirstAtLeast once per value: a call per value was 5% of the
// quantized search's time where 2% of its pairs were marked.
func AtLeast(mask []uint64, x []float32, thr float32) {
	n := len(x) &^ 7
	if !useAVX2 || n == 0 {
		atLeastGo(mask, x, thr)
		return
	}
	_ = mask[(len(x)-1)/64]
	atLeastY(unsafe.SliceData(mask), unsafe.SliceData(x), n, thr)
	if n%64 == 0 && n < len(x) {
		mask[n/64] = 0 // not written: the last values start a word
	}
	for i := n; i < len(x); i++ {
		if x[i] >= thr {
			mask[i/64] |= 1 << (i % 64)
		}
	}
}

//go:noescape
func atLeastY(mask *uint64, x *float32, n int, thr float32)

// firstAtLeastAVX2 is FirstAtLeast with AVX2: eight values per step, the
// last len(x) mod 8 in Go.
func firstAtLeastAVX2(x []float32, thr float32) int {
	n := len(x) &^ 7
	if i := firstAtLeastY(unsafe.SliceData(x), n, thr); i < n {
		return i
	}
	return n + firstAtLeastGo(x[n:], thr)
}

//go:noescape
func firstAtLeastY(x *float32, n int, thr float32) int

// useAVX512 and useAVX2 choose the vector forms of FirstAtLeast; useAVX2
// those of MaxAbs, the quantizer and Pack. HARDNEG_KERNEL=avx2 keeps
// useAVX512 off AVX-512 too, so that an AVX-512 machine forced to the AVX2
// engine runs what an AVX2-only one runs.
var (
	useAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasBMI2 && Selected != avx2Engine
	useAVX2   = cpu.X86.HasAVX2
)

//go:noescape
func maxAbsBitsY(x *float32, n int) uint32

//go:noescape
func quantizeY(row *float32, out *int32, n int, inv float32, levels int32, sc float64, sums *quantSums)

//go:noescape
func residualDotsY(dst *int32, q *int8, rows *uint8, offs *int32, n int, chunks int)

// residualDots is residualDotsGo, 64 bytes a step on AVX2.
func residualDots(dst []int32, q []int8, rows []uint8, offs []int32) {
	if !useAVX2 {
		residualDotsGo(dst, q, rows, offs)
		return
	}
	residualDotsY(unsafe.SliceData(dst), unsafe.SliceData(q), unsafe.SliceData(rows), unsafe.SliceData(offs), len(offs), len(q)/residualAlign)
}

// maxAbsBits is maxAbsBitsGo, 8 values a step on AVX2.
func maxAbsBits(row []float32) uint32 {
	if !useAVX2 {
		return maxAbsBitsGo(row)
	}
	n := len(row) &^ 7
	return max(maxAbsBitsY(unsafe.SliceData(row), n), maxAbsBitsGo(row[n:]))
}

// add returns the sums of a row made of a's values and b's.
func (a quantSums) add(b quantSums) quantSums { return quantSums{a.x + b.x, a.e + b.e, a.n2 + b.n2} }

// quantizeSums is quantizeGo, 8 values a step on AVX2: the same integers
// (the same float32 product and rounding), the float64 sums in another
// order.
func quantizeSums(row []float32, out []int32, inv float32, levels int32, sc float64) quantSums {
	if !useAVX2 {
		return quantizeGo(row, out, inv, levels, sc)
	}
	n := len(row) &^ 7
	var s quantSums
	quantizeY(unsafe.SliceData(row), unsafe.SliceData(out), n, inv, levels, sc, &s)
	return s.add(quantizeGo(row[n:], out[n:], inv, levels, sc))
}

//go:noescape
func pack8Y(dst *float32, w int, src *float32, dim int, chunks int)

// packPanel is Engine.Pack's work on one panel: with AVX2, each 8 rows × 8
// dimensions are transposed in registers (pack8Y, 24 shuffles per 64
// values; packGo's scalar copy took 40% of an exact tile of 128 queries),
// and packGo writes the dimensions past the last multiple of 8, the rows
// past the last multiple of 8 and the padding.
func packPanel(panel, rows []float32, dim, w int) {
	n := len(rows) / dim
	full, d8 := n&^7, dim&^7
	if !useAVX2 || w%8 != 0 || d8 == 0 {
		packGo(panel, rows, dim, w, 0, 0, dim)
		return
	}
	for r := 0; r < full; r += 8 {
		pack8Y(&panel[r], w, &rows[r*dim], dim, d8/8)
	}
	packGo(panel, rows, dim, w, full, 0, d8) // the other rows, and zeros past n
	packGo(panel, rows, dim, w, 0, d8, dim)  // the last dimensions
}
