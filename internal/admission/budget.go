package admission

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ParseBytes parses a size: plain bytes ("1073741824") or a number with a
// binary suffix B, KiB, MiB, GiB or TiB ("512MiB", "8GiB", "1.5GiB").
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || v*float64(mult) >= 1<<62 {
		return 0, fmt.Errorf("size %q: want bytes or a number with KiB, MiB, GiB or TiB, e.g. 8GiB", s)
	}
	return int64(v * float64(mult)), nil
}

// Files the default budget is read from.
const (
	cgroupV2Max = "/sys/fs/cgroup/memory.max"
	cgroupV1Max = "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	memInfo     = "/proc/meminfo"
)

// DefaultBudget is the memory a worker may use when -memory is unset: the
// cgroup's limit (v2, else v1) or, without one, the physical memory, less a
// margin of a tenth (at least 256 MiB) for the kernel's and the process's
// own needs. It returns 0 (no admission) when neither can be read, and says
// where the number came from.
func DefaultBudget() (int64, string) {
	return budgetFrom(cgroupV2Max, cgroupV1Max, memInfo)
}

func budgetFrom(v2, v1, meminfo string) (int64, string) {
	limit, source := physical(meminfo), meminfo
	for _, f := range []string{v2, v1} {
		if l := cgroupLimit(f); l > 0 && (limit == 0 || l < limit) {
			limit, source = l, f
			break
		}
	}
	if limit <= 0 {
		return 0, "unknown"
	}
	margin := max(limit/10, 256<<20)
	return max(limit-margin, limit/2), source
}

// cgroupLimit reads a cgroup memory limit; 0 means none ("max", or v1's
// huge number for none).
func cgroupLimit(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || v <= 0 || v >= 1<<60 {
		return 0
	}
	return v
}

// physical reads MemTotal from /proc/meminfo; 0 when it cannot.
func physical(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
