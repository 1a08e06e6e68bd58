package hugepages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// thpMode returns the kernel's transparent huge page mode ("always",
// "madvise", "never"), or "" where there is none to read.
func thpMode() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return ""
	}
	if _, after, ok := bytes.Cut(b, []byte("[")); ok {
		mode, _, _ := bytes.Cut(after, []byte("]"))
		return string(mode)
	}
	return ""
}

// eligible reports whether the mapping holding address p may use huge
// pages, from /proc/self/smaps.
func eligible(t *testing.T, p uintptr) bool {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skip("no /proc/self/smaps")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 {
			in = lo <= p && p < hi
			continue
		}
		if v, ok := strings.CutPrefix(line, "THPeligible:"); ok && in {
			return strings.TrimSpace(v) == "1"
		}
	}
	t.Skipf("no THPeligible line for %#x in /proc/self/smaps", p)
	return false
}

// TestMakeMarksLargeBuffers checks that a large buffer from Make lies in
// memory the kernel may back with huge pages, where the kernel asks for
// madvise (in "always" mode every buffer may, and in "never" none).
func TestMakeMarksLargeBuffers(t *testing.T) {
	if runtime.GOOS != "linux" || thpMode() != "madvise" {
		t.Skipf("transparent huge pages in mode %q on %s: nothing to mark", thpMode(), runtime.GOOS)
	}
	b := Make[float32](64 << 20 / 4)
	mid := uintptr(unsafe.Pointer(&b[len(b)/2]))
	if !eligible(t, mid) {
		t.Errorf("the middle of a 64 MiB buffer from Make is not eligible for huge pages")
	}
	if len(b) != 64<<20/4 {
		t.Errorf("len %d, want %d", len(b), 64<<20/4)
	}
	for i, v := range b {
		if v != 0 {
			t.Fatalf("b[%d] = %v, want 0", i, v)
		}
	}
}

// BenchmarkFirstTouch writes one byte per 4 KiB page of a fresh 64 MiB
// buffer, from make and from Make: the cost of its page faults. Run it on its
// own (-run '^$'): memory a test marked keeps its mark when make reuses it.
func BenchmarkFirstTouch(b *testing.B) {
	for _, c := range []struct {
		name string
		make func(n int) []byte
	}{
		{"make", func(n int) []byte { return make([]byte, n) }},
		{"hugepages.Make", Make[byte]},
	} {
		b.Run(c.name, func(b *testing.B) {
			const size = 64 << 20
			b.SetBytes(size)
			for b.Loop() {
				buf := c.make(size)
				for i := 0; i < len(buf); i += 4096 {
					buf[i] = 1
				}
				runtime.KeepAlive(buf)
				b.StopTimer()
				debug.FreeOSMemory() // the next buffer is fresh memory again
				b.StartTimer()
			}
		})
	}
}

func ExampleMake() {
	// A buffer for 100,000 embeddings of 256 floats, touched first by the
	// decoder: in huge pages where the kernel allows.
	emb := Make[float32](100_000 * 256)
	fmt.Println(len(emb))
	// Output: 25600000
}
