// Package hugepages asks the kernel to back large buffers with transparent
// huge pages.
//
// A worker touches a gigabyte or more of fresh memory in a job: corpus shards,
// query blocks, fetched bytes, partial results. With the usual 4 KiB pages
// every first touch of a page is a page fault; on the virtual machines
// measured here one costs about 12 µs, so 100 MB costs a third of a second of
// CPU, as much as decoding the shard into it. Most Linux systems run
// transparent huge pages in "madvise" mode, where only memory marked with
// madvise(MADV_HUGEPAGE) gets 2 MiB pages; then the same 100 MB takes 50
// faults instead of 25,600 (25 ms instead of 340 ms there).
//
// The Go runtime no longer marks its heap itself (it did in Go 1.21.0 and
// stopped), so Make marks the large buffers the worker allocates. Elsewhere
// than on Linux, and for buffers under a huge page, it is a plain make.
package hugepages

import "unsafe"

// MinBytes is the smallest buffer Make marks: below a few huge pages most of
// it would lie in the partial huge pages at its ends, which cannot be marked.
const MinBytes = 8 << 20

// Make returns make([]T, n), marked for huge pages when it is at least
// MinBytes long. T must hold no pointers: the marking leaves the memory's
// content alone, but a buffer worth marking is plain data.
func Make[T any](n int) []T {
	s := make([]T, n)
	Advise(s)
	return s
}

// Advise marks the whole huge pages inside s for huge pages, before they are
// touched; pages s has touched already keep their small pages. It does
// nothing for buffers under MinBytes.
func Advise[T any](s []T) {
	if len(s) == 0 {
		return
	}
	n := uintptr(len(s)) * unsafe.Sizeof(s[0])
	if n < MinBytes {
		return
	}
	advise(uintptr(unsafe.Pointer(unsafe.SliceData(s))), n)
}
