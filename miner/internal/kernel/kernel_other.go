//go:build !amd64 || purego

package kernel

func simdEngines() []*Engine   { return nil }
func quantEngines() []*QEngine { return nil }
