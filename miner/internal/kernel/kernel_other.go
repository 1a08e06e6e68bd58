//go:build (!amd64 && !arm64) || purego

package kernel

func simdEngines() []*Engine   { return nil }
func quantEngines() []*QEngine { return nil }

// FirstAtLeast returns the index of the first x[i] ≥ thr, or len(x); x holds
// no NaN.
func FirstAtLeast(x []float32, thr float32) int { return firstAtLeastGo(x, thr) }
