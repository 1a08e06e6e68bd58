package selfexec

import (
	"os"
	"strings"
	"testing"
)

// TestCommandRunsThisBinary starts this test binary again through Command
// (natively, or under the emulator that runs this one) and checks that the
// child ran this test with the environment it was given.
func TestCommandRunsThisBinary(t *testing.T) {
	if os.Getenv("SELFEXEC_CHILD") == "1" {
		os.Stdout.WriteString("child ran\n")
		return
	}
	cmd := Command("-test.run=^TestCommandRunsThisBinary$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SELFEXEC_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	if !strings.Contains(string(out), "child ran") {
		t.Fatalf("the child did not run the test:\n%s", out)
	}
}

func TestQemuArch(t *testing.T) {
	for goarch, want := range map[string]string{"arm64": "aarch64", "amd64": "x86_64", "386": "i386", "riscv64": "riscv64", "loong64": "loongarch64"} {
		if got := qemuArch(goarch); got != want {
			t.Errorf("qemuArch(%s) = %s, want %s", goarch, got, want)
		}
	}
}
