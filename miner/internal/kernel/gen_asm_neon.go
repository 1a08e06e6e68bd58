//go:build ignore

// gen_asm_neon writes kernel_arm64.s, the NEON kernels of the "neon" and
// "neon-dot" engines: go run gen_asm_neon.go (go generate does it).
//
// Go's arm64 assembler has VFMLA only in its vector-by-vector form and has
// no SDOT, SCVTF (vector) or FMUL (vector), so those instructions are written
// as WORD directives, encoded here from the Arm ARM, each followed by a
// comment in GNU syntax (`aarch64-linux-gnu-as -march=armv8.2-a+dotprod`
// assembles the comments to the same words; the tests under
// qemu-aarch64-static check the results bit for bit).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
)

// The float micro-kernel: fmaN<m> scores m ≤ neonRows query rows against a
// panel of neonPanel corpus rows (neonPanel/4 vectors), keeping m×4
// accumulators in V0–V19, the panel's four vectors of one dimension in
// V20–V23 and four dimensions of each query row in V24–V28. Each
// accumulator lane is one pair's chain of fused multiply-adds in dimension
// order, as the x86 engines compute it.
const (
	neonRows  = 5
	neonPanel = 16
)

// The int8 micro-kernel: dotSDOT<m> scores m ≤ sdotRows query rows against
// one 48-row panel in three passes of 16 rows; per pass m×4 int32
// accumulators in V0–V19, 16 rows × 4 bytes of one step in V20–V23 (signed
// c̃: kernel.SignedFormat), 4 steps of each query row in V24–V28.
const (
	sdotRows = 5
	qPanel   = 48 // kernel.QuantPanel
)

type gen struct{ b bytes.Buffer }

func (g *gen) p(format string, args ...any) { fmt.Fprintf(&g.b, format+"\n", args...) }

// word emits an encoded instruction with its GNU spelling.
func (g *gen) word(w uint32, gnu string, args ...any) {
	g.p("\tWORD $0x%08x // %s", w, fmt.Sprintf(gnu, args...))
}

// byElem encodes the Advanced SIMD "by element" forms with a 32-bit element
// (FMLA .4S, FMUL .4S, SDOT .4B): base | L<<21 | M:Rm<<16 | H<<11 | Rn<<5 | Rd.
func byElem(base uint32, d, n, m, idx int) uint32 {
	if m > 31 || idx > 3 {
		log.Fatalf("by-element operand v%d[%d]", m, idx)
	}
	return base | uint32(idx&1)<<21 | uint32(m)<<16 | uint32(idx>>1)<<11 | uint32(n)<<5 | uint32(d)
}

func (g *gen) fmlaElem(d, n, m, idx int) {
	g.word(byElem(0x4f801000, d, n, m, idx), "fmla v%d.4s, v%d.4s, v%d.s[%d]", d, n, m, idx)
}

func (g *gen) sdotElem(d, n, m, idx int) {
	g.word(byElem(0x4f80e000, d, n, m, idx), "sdot v%d.4s, v%d.16b, v%d.4b[%d]", d, n, m, idx)
}

func (g *gen) fmulElem(d, n, m, idx int) {
	g.word(byElem(0x4f809000, d, n, m, idx), "fmul v%d.4s, v%d.4s, v%d.s[%d]", d, n, m, idx)
}

func (g *gen) fmul(d, n, m int) {
	g.word(0x6e20dc00|uint32(m)<<16|uint32(n)<<5|uint32(d), "fmul v%d.4s, v%d.4s, v%d.4s", d, n, m)
}

func (g *gen) scvtf(d, n int) {
	g.word(0x4e21d800|uint32(n)<<5|uint32(d), "scvtf v%d.4s, v%d.4s", d, n)
}

func vlist(first, n int, arr string) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("V%d.%s", first+i, arr))
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// Query row pointers live in R6.. (one per row).
func (g *gen) rowPointers(m int, base, stride string) {
	g.p("\tMOVD %s, R6", base)
	for i := 1; i < m; i++ {
		g.p("\tADD %s, R%d, R%d", stride, 5+i, 6+i)
	}
}

func (g *gen) zero(n int) {
	for v := range n {
		g.p("\tVEOR V%d.B16, V%d.B16, V%d.B16", v, v, v)
	}
}

// fma writes fmaN<m>(dst *float32, ldd int, q *float32, ldq int, p *float32, n int).
func (g *gen) fma(m int) {
	g.p("// func fmaN%d(dst *float32, ldd int, q *float32, ldq int, p *float32, n int)", m)
	g.p("TEXT ·fmaN%d(SB), NOSPLIT, $0-48", m)
	g.p("\tMOVD dst+0(FP), R0")
	g.p("\tMOVD ldd+8(FP), R1")
	g.p("\tMOVD q+16(FP), R2")
	g.p("\tMOVD ldq+24(FP), R3")
	g.p("\tMOVD p+32(FP), R4")
	g.p("\tMOVD n+40(FP), R5")
	g.p("\tLSL $2, R1, R1")
	g.p("\tLSL $2, R3, R3")
	g.rowPointers(m, "R2", "R3")
	g.zero(4 * m)
	g.p("\tCMP $4, R5")
	g.p("\tBLT tail%d", m)
	g.p("loop%d:", m)
	for i := range m {
		g.p("\tVLD1.P 16(R%d), [V%d.S4]", 6+i, 24+i)
	}
	for l := range 4 {
		g.p("\tVLD1.P 64(R4), %s", vlist(20, 4, "S4"))
		for i := range m {
			for v := range 4 {
				g.fmlaElem(4*i+v, 20+v, 24+i, l)
			}
		}
	}
	g.p("\tSUB $4, R5, R5")
	g.p("\tCMP $4, R5")
	g.p("\tBGE loop%d", m)
	g.p("tail%d:", m)
	g.p("\tCBZ R5, store%d", m)
	g.p("tail1%d:", m)
	for i := range m {
		g.p("\tFMOVS.P 4(R%d), F%d", 6+i, 24+i) // lane 0; the others are zeroed
	}
	g.p("\tVLD1.P 64(R4), %s", vlist(20, 4, "S4"))
	for i := range m {
		for v := range 4 {
			g.fmlaElem(4*i+v, 20+v, 24+i, 0)
		}
	}
	g.p("\tSUBS $1, R5, R5")
	g.p("\tBNE tail1%d", m)
	g.p("store%d:", m)
	for i := range m {
		g.p("\tVST1 %s, (R0)", vlist(4*i, 4, "S4"))
		if i < m-1 {
			g.p("\tADD R1, R0, R0")
		}
	}
	g.p("\tRET")
	g.p("")
}

// sdot writes dotSDOT<m>(dst *float32, ldd int, q *int8, ldq int, p *uint8,
// n int, corr *int32, qs *float32, cs *float32); n is the number of 4-byte
// steps, corr is not needed (the corpus bytes are c̃ itself).
func (g *gen) sdot(m int) {
	g.p("// func dotSDOT%d(dst *float32, ldd int, q *int8, ldq int, p *uint8, n int, corr *int32, qs *float32, cs *float32)", m)
	g.p("TEXT ·dotSDOT%d(SB), NOSPLIT, $0-72", m)
	g.p("\tMOVD dst+0(FP), R0")
	g.p("\tMOVD ldd+8(FP), R1")
	g.p("\tMOVD q+16(FP), R2")
	g.p("\tMOVD ldq+24(FP), R3")
	g.p("\tMOVD p+32(FP), R4")
	g.p("\tMOVD n+40(FP), R5")
	g.p("\tMOVD qs+56(FP), R13")
	g.p("\tMOVD cs+64(FP), R14")
	g.p("\tLSL $2, R1, R1")
	g.p("\tMOVD $%d, R15", qPanel*4) // bytes per step of a panel
	g.p("\tMOVD $3, R19")            // passes of 16 rows
	g.p("pass%d:", m)
	g.rowPointers(m, "R2", "R3")
	g.p("\tMOVD R4, R12")
	g.p("\tMOVD R5, R11")
	g.zero(4 * m)
	g.p("\tCMP $4, R11")
	g.p("\tBLT tail%d", m)
	g.p("loop%d:", m)
	for i := range m {
		g.p("\tVLD1.P 16(R%d), [V%d.B16]", 6+i, 24+i)
	}
	for l := range 4 {
		g.sdotStep(m, l)
	}
	g.p("\tSUB $4, R11, R11")
	g.p("\tCMP $4, R11")
	g.p("\tBGE loop%d", m)
	g.p("tail%d:", m)
	g.p("\tCBZ R11, scale%d", m)
	g.p("tail1%d:", m)
	for i := range m {
		g.p("\tFMOVS.P 4(R%d), F%d", 6+i, 24+i)
	}
	g.sdotStep(m, 0)
	g.p("\tSUBS $1, R11, R11")
	g.p("\tBNE tail1%d", m)
	g.p("scale%d:", m)
	// A = fl(fl(fl(I)·s_c)·s_q), as quantGoMicro.
	g.p("\tVLD1.P 64(R14), %s", vlist(20, 4, "S4"))
	g.p("\tMOVD R0, R20")
	for i := range m {
		g.p("\tFMOVS %d(R13), F24", 4*i)
		for v := range 4 {
			a := 4*i + v
			g.scvtf(a, a)
			g.fmul(a, a, 20+v)
			g.fmulElem(a, a, 24, 0)
		}
		g.p("\tVST1 %s, (R20)", vlist(4*i, 4, "S4"))
		if i < m-1 {
			g.p("\tADD R1, R20, R20")
		}
	}
	g.p("\tADD $64, R0, R0") // the next 16 scores of each row
	g.p("\tADD $64, R4, R4") // the next 16 rows of each step
	g.p("\tSUBS $1, R19, R19")
	g.p("\tBNE pass%d", m)
	g.p("\tRET")
	g.p("")
}

// sdotStep loads one step of 16 rows at R12 (advancing it a whole step)
// and adds its products with byte group l of the query registers.
func (g *gen) sdotStep(m, l int) {
	g.p("\tVLD1 (R12), %s", vlist(20, 4, "B16"))
	g.p("\tADD R15, R12, R12")
	for i := range m {
		for v := range 4 {
			g.sdotElem(4*i+v, 20+v, 24+i, l)
		}
	}
}

func (g *gen) fcmge(d, n, m int) {
	g.word(0x6e20e400|uint32(m)<<16|uint32(n)<<5|uint32(d), "fcmge v%d.4s, v%d.4s, v%d.4s", d, n, m)
}

// firstAtLeast writes firstAtLeastN(x *float32, n int, thr float32) int: the
// start of the first block of 16 values holding one ≥ thr, or n rounded down
// to a multiple of 16 where none does; the caller finishes the scan.
func (g *gen) firstAtLeast() {
	g.p("// func firstAtLeastN(x *float32, n int, thr float32) int")
	g.p("TEXT ·firstAtLeastN(SB), NOSPLIT, $0-32")
	g.p("\tMOVD x+0(FP), R0")
	g.p("\tMOVD n+8(FP), R1")
	g.p("\tFMOVS thr+16(FP), F31")
	g.p("\tVDUP V31.S[0], V31.S4")
	g.p("\tAND $~15, R1, R1")
	g.p("\tMOVD $0, R2")
	g.p("\tCBZ R1, done")
	g.p("loop:")
	g.p("\tVLD1.P 64(R0), %s", vlist(0, 4, "S4"))
	for v := range 4 {
		g.fcmge(v, v, 31)
	}
	g.p("\tVORR V0.B16, V1.B16, V4.B16")
	g.p("\tVORR V2.B16, V3.B16, V5.B16")
	g.p("\tVORR V4.B16, V5.B16, V4.B16")
	g.p("\tVMOV V4.D[0], R3")
	g.p("\tVMOV V4.D[1], R4")
	g.p("\tORR R3, R4, R3")
	g.p("\tCBNZ R3, done")
	g.p("\tADD $16, R2, R2")
	g.p("\tCMP R1, R2")
	g.p("\tBLT loop")
	g.p("done:")
	g.p("\tMOVD R2, ret+24(FP)")
	g.p("\tRET")
	g.p("")
}

func (g *gen) trn(two bool, arr string, d, n, m int) {
	w, op := uint32(0x4e002800), "trn1"
	if two {
		w, op = 0x4e006800, "trn2"
	}
	size := uint32(2)
	if arr == "2d" {
		size = 3
	}
	g.word(w|size<<22|uint32(m)<<16|uint32(n)<<5|uint32(d), "%s v%d.%s, v%d.%s, v%d.%s", op, d, arr, n, arr, m, arr)
}

// gatherPtrs hold the pointers to the 16 rows gatherV scores at a time, in
// four groups of four (R16 and R17 are free in a function that calls
// nothing).
var gatherPtrs = []int{6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 19, 20, 21, 22} // not R18 (platform)

// gatherV writes gatherV(dst *float32, q *float32, c *float32, idx *int32,
// groups int, dim int): 16 rows per group. Four dimensions of four rows are
// loaded and transposed in registers (TRN1/TRN2), so that one FMLA by
// element adds dimension k of four rows to their four chains, in dimension
// order; the last dim%4 dimensions continue each chain with scalar FMADDs.
func (g *gen) gatherV() {
	g.p("// func gatherV(dst *float32, q *float32, c *float32, idx *int32, groups int, dim int)")
	g.p("TEXT ·gatherV(SB), NOSPLIT, $0-48")
	g.p("\tMOVD dst+0(FP), R0")
	g.p("\tMOVD q+8(FP), R1")
	g.p("\tMOVD c+16(FP), R2")
	g.p("\tMOVD idx+24(FP), R3")
	g.p("\tMOVD groups+32(FP), R4")
	g.p("\tMOVD dim+40(FP), R5")
	g.p("vgroup:")
	for _, r := range gatherPtrs {
		g.p("\tMOVW.P 4(R3), R%d", r)
		g.p("\tADD R%d<<2, R2, R%d", r, r)
	}
	for a := 24; a < 28; a++ {
		g.p("\tVEOR V%d.B16, V%d.B16, V%d.B16", a, a, a)
	}
	g.p("\tMOVD R1, R23")
	g.p("\tLSR $2, R5, R24")
	g.p("\tCBZ R24, vtail")
	g.p("vdims:")
	g.p("\tVLD1.P 16(R23), [V31.S4]")
	for grp := range 4 {
		base := 4 * grp
		for r := range 4 {
			g.p("\tVLD1.P 16(R%d), [V%d.S4]", gatherPtrs[base+r], base+r)
		}
	}
	for grp := range 4 {
		a, b, c, d := 4*grp, 4*grp+1, 4*grp+2, 4*grp+3
		t := 16                           // V16-V23 are the transpose's temporaries
		g.trn(false, "4s", t, a, b)       // a0 b0 a2 b2
		g.trn(true, "4s", t+1, a, b)      // a1 b1 a3 b3
		g.trn(false, "4s", t+2, c, d)     // c0 d0 c2 d2
		g.trn(true, "4s", t+3, c, d)      // c1 d1 c3 d3
		g.trn(false, "2d", t+4, t, t+2)   // dimension 0 of the four rows
		g.trn(false, "2d", t+5, t+1, t+3) // dimension 1
		g.trn(true, "2d", t+6, t, t+2)    // dimension 2
		g.trn(true, "2d", t+7, t+1, t+3)  // dimension 3
		for k := range 4 {
			g.fmlaElem(24+grp, t+4+k, 31, k)
		}
	}
	g.p("\tSUBS $1, R24, R24")
	g.p("\tBNE vdims")
	g.p("vtail:")
	g.p("\tVST1.P %s, 64(R0)", vlist(24, 4, "S4"))
	g.p("\tANDS $3, R5, R24")
	g.p("\tBEQ vnext")
	// The chains go on in scalar registers, in dimension order.
	g.p("\tSUB $64, R0, R0")
	g.p("vtail1:")
	g.p("\tFMOVS.P 4(R23), F31")
	for i, r := range gatherPtrs {
		g.p("\tFMOVS %d(R0), F0", 4*i)
		g.p("\tFMOVS.P 4(R%d), F1", r)
		g.p("\tFMADDS F1, F0, F31, F0")
		g.p("\tFMOVS F0, %d(R0)", 4*i)
	}
	g.p("\tSUBS $1, R24, R24")
	g.p("\tBNE vtail1")
	g.p("\tADD $64, R0, R0")
	g.p("vnext:")
	g.p("\tSUBS $1, R4, R4")
	g.p("\tBNE vgroup")
	g.p("\tRET")
	g.p("")
}

func main() {
	out := flag.String("o", "kernel_arm64.s", "output file")
	flag.Parse()
	g := &gen{}
	g.p("// Code generated by gen_asm_neon.go; DO NOT EDIT.")
	g.p("")
	g.p("//go:build arm64 && !purego")
	g.p("")
	g.p(`#include "textflag.h"`)
	g.p("")
	for m := 1; m <= neonRows; m++ {
		g.fma(m)
	}
	for m := 1; m <= sdotRows; m++ {
		g.sdot(m)
	}
	g.gatherV()
	g.firstAtLeast()
	if err := os.WriteFile(*out, g.b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
