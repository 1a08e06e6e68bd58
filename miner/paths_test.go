package miner

import (
	"os"
	"testing"

	"github.com/hardneg/hardneg/miner/internal/kernel"
	"github.com/hardneg/hardneg/miner/internal/selfexec"
)

// TestForcedKernelPaths runs the search and selection tests again in a
// child process for every other engine this CPU has (HARDNEG_KERNEL=avx2,
// go, ...), so that each path passes the same checks against the reference:
// on a machine without AVX-512 the AVX2 path is the default and these tests
// are what it runs.
func TestForcedKernelPaths(t *testing.T) {
	if os.Getenv("HARDNEG_KERNEL_CHILD") != "" {
		t.Skip("in a child")
	}
	exact, quant := Engines()
	t.Logf("this process: engine %s, int8 engine %q", exact, quant)
	for _, e := range kernel.Engines() {
		if e == kernel.Selected {
			continue
		}
		t.Run(e.Name, func(t *testing.T) {
			cmd := selfexec.Command("-test.count=1", "-test.short",
				"-test.run", "^(TestSearchTile|TestMerge|TestDeterministic|TestScoreRows|TestQuantized|TestTopSelection|TestEasyNegatives|Example)")
			cmd.Env = append(os.Environ(), kernel.EnvVar+"="+e.Name, "HARDNEG_KERNEL_CHILD=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("HARDNEG_KERNEL=%s: %v\n%s", e.Name, err, out)
			}
		})
	}
}
