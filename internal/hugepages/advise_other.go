//go:build !linux

package hugepages

func advise(p, n uintptr) {}
