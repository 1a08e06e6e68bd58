package kernel

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestNEONAssemblyUpToDate checks that kernel_arm64.s is what
// gen_asm_neon.go writes, so that the file and its generator never drift.
func TestNEONAssemblyUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the generator")
	}
	// go test puts its own toolchain's bin first in the test's PATH.
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	out := filepath.Join(t.TempDir(), "kernel_arm64.s")
	cmd := exec.Command(gobin, "run", "gen_asm_neon.go", "-o", out)
	cmd.Env = append(os.Environ(), "GOARCH="+runtime.GOARCH, "GOOS="+runtime.GOOS)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot run the generator here (%v): %s", err, msg)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("kernel_arm64.s")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("kernel_arm64.s differs from gen_asm_neon.go's output: run go generate ./miner/internal/kernel")
	}
}

// TestNEONWords checks every WORD of kernel_arm64.s against its GNU spelling
// in the comment beside it, assembled by aarch64-linux-gnu-as (Debian:
// binutils-aarch64-linux-gnu); skipped where that assembler is missing.
func TestNEONWords(t *testing.T) {
	as, err := exec.LookPath("aarch64-linux-gnu-as")
	if err != nil {
		t.Skip("aarch64-linux-gnu-as not installed (binutils-aarch64-linux-gnu)")
	}
	objdump, err := exec.LookPath("aarch64-linux-gnu-objdump")
	if err != nil {
		t.Skip("aarch64-linux-gnu-objdump not installed")
	}
	f, err := os.Open("kernel_arm64.s")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile(`^\s*WORD \$0x([0-9a-f]{8}) // (.+)$`)
	var words, src []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m == nil || seen[m[2]] {
			continue
		}
		seen[m[2]] = true
		words = append(words, m[1])
		src = append(src, m[2])
	}
	if len(words) == 0 {
		t.Fatal("no WORD directives found")
	}
	dir := t.TempDir()
	s, o := filepath.Join(dir, "w.s"), filepath.Join(dir, "w.o")
	if err := os.WriteFile(s, []byte(strings.Join(src, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(as, "-march=armv8.2-a+dotprod", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("assemble: %v\n%s", err, msg)
	}
	dis, err := exec.Command(objdump, "-d", o).Output()
	if err != nil {
		t.Fatalf("disassemble: %v", err)
	}
	var got []string
	for _, line := range strings.Split(string(dis), "\n") {
		if f := strings.Split(line, "\t"); len(f) >= 3 && strings.HasSuffix(strings.TrimSpace(f[0]), ":") {
			got = append(got, strings.TrimSpace(f[1]))
		}
	}
	if len(got) != len(words) {
		t.Fatalf("%d instructions assembled from %d words", len(got), len(words))
	}
	for i := range words {
		if got[i] != words[i] {
			t.Errorf("%s: WORD $0x%s, the assembler says %s", src[i], words[i], got[i])
		}
	}
	t.Logf("%d distinct encodings checked", len(words))
}
