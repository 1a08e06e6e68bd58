//go:build (!amd64 && !arm64) || purego

package kernel

func simdEngines() []*Engine   { return nil }
func quantEngines() []*QEngine { return nil }

// FirstAtLeast returns the index of the first x[i] ≥ thr, or len(x); x holds
// no NaN.
func FirstAtLeast(x []float32, thr float32) int { return firstAtLeastGo(x, thr) }

// AtLeast sets bit i%64 of mask[i/64] where x[i] ≥ thr and clears the
// other bits of mask's first (len(x)+63)/64 words; x holds no NaN.
func AtLeast(mask []uint64, x []float32, thr float32) { atLeastGo(mask, x, thr) }
