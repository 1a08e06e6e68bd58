//go:build arm64 && !purego

package kernel

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestARM64Engines checks the engines an arm64 CPU offers and the int8
// kernel each brings: "neon" always (every arm64 CPU has ASIMD with FMA),
// "neon-dot" first and with the SDOT prefilter exactly when the CPU has the
// dot product instructions; "neon" runs the exact search (no int8 kernel).
// Under qemu-aarch64-static, QEMU_CPU=max offers SDOT and
// QEMU_CPU=cortex-a72 does not, so CI runs both.
func TestARM64Engines(t *testing.T) {
	var names []string
	for _, e := range Engines() {
		names = append(names, e.Name)
	}
	t.Logf("dot product: %v; engines %v", cpu.ARM64.HasASIMDDP, names)
	if _, err := Lookup("neon"); err != nil {
		t.Fatal(err)
	}
	dot, err := Lookup("neon-dot")
	if cpu.ARM64.HasASIMDDP != (err == nil) {
		t.Fatalf("dot product %v, but Lookup(neon-dot): %v", cpu.ARM64.HasASIMDDP, err)
	}
	if err == nil {
		if Engines()[0] != dot || selectQuant(dot, "") != sdotEngine || QEngines()[0] != sdotEngine {
			t.Fatalf("neon-dot is not first, or does not bring the SDOT kernel: %v, %v", names, selectQuant(dot, ""))
		}
	} else if Engines()[0] != neonEngine || len(QEngines()) != 1 {
		t.Fatalf("without dot product: engines %v, %d int8 engines", names, len(QEngines()))
	}
	if q := selectQuant(neonEngine, ""); q != nil {
		t.Fatalf("neon brings int8 kernel %s; it should run exact", q.Name)
	}
}

// TestSDOTExtremes checks the int8 kernel where the sign of the corpus bytes
// matters most: quantized values ±127 and 0 in every position, against the
// portable kernel bit for bit.
func TestSDOTExtremes(t *testing.T) {
	if !cpu.ARM64.HasASIMDDP {
		t.Skip("no dot product instructions")
	}
	for _, dim := range []int{1, 4, 5, 16, 17, 300} {
		const nq, nc = 7, 97
		q := make([]float32, nq*dim)
		c := make([]float32, nc*dim)
		vals := []float32{1, -1, 0, 0.5, -0.25}
		for i := range q {
			q[i] = vals[i%len(vals)]
		}
		for i := range c {
			c[i] = vals[(i/3)%len(vals)]
		}
		want := quantScores(QuantGo, SignedFormat, q, c, nq, nc, dim)
		got := quantScores(sdotEngine, SignedFormat, q, c, nq, nc, dim)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("dim %d score %d: SDOT %v, portable %v", dim, i, got[i], want[i])
			}
		}
	}
}
