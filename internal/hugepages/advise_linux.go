package hugepages

import "golang.org/x/sys/unix"

// hugePage is the huge page size of x86-64 and arm64 Linux with 4 KiB base
// pages. A kernel with other sizes rounds the range itself.
const hugePage = 2 << 20

// advise marks the whole huge pages of [p, p+n). An error (a kernel without
// transparent huge pages) is of no consequence: the pages stay small.
func advise(p, n uintptr) {
	beg := (p + hugePage - 1) &^ (hugePage - 1)
	end := (p + n) &^ (hugePage - 1)
	if beg < end {
		unix.Syscall(unix.SYS_MADVISE, beg, end-beg, unix.MADV_HUGEPAGE)
	}
}
