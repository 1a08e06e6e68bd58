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
// for the portable engine. In one process it checks that every engine gives
// the digest of its plain-Go pair arithmetic (fmaDot or dot), subnormals
// included; cmd/bench/arm64_check.sh compares the lines of an
// x86 run with those of an arm64 run under qemu, which is the check that the
// scores agree bit for bit across architectures.
//
// The data is made of integers scaled by powers of two (the last block so
// small that products and sums are subnormal), so that it is the same on
// every architecture (NormFloat64 goes through math.Exp, whose
// assembly differs between them).
func TestScoreDigest(t *testing.T) {
	digests := map[string]string{"fma": pairDigest(fmaDot), "go": pairDigest(dot)}
	for _, e := range Engines() {
		arith := "go"
		if e != GoEngine {
			arith = "fma"
		}
		if d := scoreDigest(e); d != digests[arith] {
			t.Fatalf("engine %s: digest %s, its reference pair arithmetic %s", e.Name, d, digests[arith])
		}
	}
	for _, arith := range []string{"fma", "go"} {
		t.Logf("score digest %s %s", arith, digests[arith])
	}
}

func scoreDigest(e *Engine) string {
	return digestOf(func(q, c []float32, nq, nc, dim int) []float32 { return blockScores(e, q, c, nq, nc, dim) })
}

// pairDigest is scoreDigest with each pair scored alone by pair.
func pairDigest(pair func(a, b []float32) float32) string {
	return digestOf(func(q, c []float32, nq, nc, dim int) []float32 {
		out := make([]float32, 0, nq*nc)
		for i := range nq {
			for j := range nc {
				out = append(out, pair(q[i*dim:(i+1)*dim], c[j*dim:(j+1)*dim]))
			}
		}
		return out
	})
}

func digestOf(scores func(q, c []float32, nq, nc, dim int) []float32) string {
	r := rand.New(rand.NewPCG(21, 22))
	h := sha256.New()
	for i, dim := range []int{1, 7, 64, 384, 768, 384} {
		const nq, nc = 9, 50
		q, c := exactVecs(r, nq*dim), exactVecs(r, nc*dim)
		if i == 5 { // products and sums among the subnormals (below 2⁻¹²⁶): no engine may flush them
			for k := range q {
				q[k] = float32(math.Ldexp(float64(q[k]), -60))
			}
			for k := range c {
				c[k] = float32(math.Ldexp(float64(c[k]), -75))
			}
		}
		for _, v := range scores(q, c, nq, nc, dim) {
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
