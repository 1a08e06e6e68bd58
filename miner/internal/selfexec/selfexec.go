// Package selfexec starts the running test binary again as a child process,
// through the same user-mode emulator when the binary runs under one.
//
// A test that re-runs its own binary (to change the environment a package
// reads at start, such as HARDNEG_KERNEL) cannot exec it directly when the
// tests of another architecture run under qemu-user without binfmt_misc
// (go test -exec qemu-aarch64-static): the kernel refuses the foreign binary
// with "exec format error". Command then prefixes the emulator, named by
// HARDNEG_TEST_EXEC or else found on PATH as qemu-<arch>-static.
package selfexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// EnvVar names the emulator that runs this binary, with its arguments if
// any, e.g. HARDNEG_TEST_EXEC="qemu-aarch64-static -cpu max"; empty: found
// when needed.
const EnvVar = "HARDNEG_TEST_EXEC"

// Command returns a command that runs this binary (os.Args[0]) with args,
// through the emulator when the host cannot exec it itself.
func Command(args ...string) *exec.Cmd {
	emu, err := emulator()
	if err != nil {
		// Let the command fail when started, with the reason in its error.
		cmd := exec.Command(os.Args[0], args...)
		cmd.Err = err
		return cmd
	}
	if len(emu) == 0 {
		return exec.Command(os.Args[0], args...)
	}
	return exec.Command(emu[0], append(append(emu[1:len(emu):len(emu)], os.Args[0]), args...)...)
}

var emulator = sync.OnceValues(findEmulator)

// findEmulator returns nothing when this binary runs natively, else the
// emulator's command line (program, then arguments such as "-cpu max") to
// run it with. It tries the binary itself first (running no test), so a
// machine that can exec it (natively or through binfmt_misc) needs nothing.
func findEmulator() ([]string, error) {
	if e := strings.Fields(os.Getenv(EnvVar)); len(e) > 0 {
		p, err := exec.LookPath(e[0])
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", EnvVar, os.Getenv(EnvVar), err)
		}
		return append([]string{p}, e[1:]...), nil
	}
	err := exec.Command(os.Args[0], "-test.run=^$", "-test.count=1").Run()
	if err == nil || !errors.Is(err, syscall.ENOEXEC) {
		return nil, nil // runs natively (any other failure shows in the real run)
	}
	name := "qemu-" + qemuArch(runtime.GOARCH) + "-static"
	p, lerr := exec.LookPath(name)
	if lerr != nil {
		return nil, fmt.Errorf("start %s: %w; no emulator: set %s or install %s (Debian: qemu-user-static)", os.Args[0], err, EnvVar, name)
	}
	return []string{p}, nil
}

// qemuArch is qemu's name of a GOARCH.
func qemuArch(goarch string) string {
	switch goarch {
	case "arm64":
		return "aarch64"
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	case "loong64":
		return "loongarch64"
	}
	return goarch
}
