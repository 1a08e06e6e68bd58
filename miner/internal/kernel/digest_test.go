package kernel

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestScoreDigest scores fixed data with every engine and logs one SHA-256
// of the score bits per arithmetic: "score digest fma" for the engines that
// compute fmaDot (the x86 SIMD and arm64 NEON engines), "score digest go"
// for the portable engine. In one process it checks that every fma engine
// gives the same digest; cmd/bench/arm64_check.sh compares the lines of an
// x86 run with those of an arm64 run under qemu, which is the check that the
// scores agree bit for bit across architectures.
//
// The data is made of integers scaled by powers of two, so that it is the
// same on every architecture (NormFloat64 goes through math.Exp, whose
// assembly differs between them).
func TestScoreDigest(t *testing.T) {
	digests := map[string]string{}
	for _, e := range Engines() {
		arith := "go"
		if e != GoEngine {
			arith = "fma"
		}
		d := scoreDigest(e)
		if prev, ok := digests[arith]; ok && prev != d {
			t.Fatalf("engine %s: digest %s, another %s engine %s", e.Name, d, arith, prev)
		}
		digests[arith] = d
	}
	for _, arith := range []string{"fma", "go"} {
		if d, ok := digests[arith]; ok {
			t.Logf("score digest %s %s", arith, d)
		}
	}
}

func scoreDigest(e *Engine) string {
	r := rand.New(rand.NewPCG(21, 22))
	h := sha256.New()
	for _, dim := range []int{1, 7, 64, 384, 768} {
		const nq, nc = 9, 50
		q, c := exactVecs(r, nq*dim), exactVecs(r, nc*dim)
		for _, v := range blockScores(e, q, c, nq, nc, dim) {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// exactVecs returns n values k·2⁻²³ with k uniform in [−2²³, 2²³), over a
// spread of magnitudes (2⁻⁸ to 2⁸), each exactly representable.
func exactVecs(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		k := int32(r.Uint32()>>8) - 1<<23
		v[i] = float32(math.Ldexp(float64(k), -23+r.IntN(17)-8))
	}
	return v
}
