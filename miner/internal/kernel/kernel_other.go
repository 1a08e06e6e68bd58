//go:build (!amd64 && !arm64) || purego

package kernel

func simdEngines() []*Engine   { return nil }
func quantEngines() []*QEngine { return nil }

// FirstAtLeast returns the index of the first x[i] ≥ thr, or len(x); x holds
// no NaN.
func FirstAtLeast(x []float32, thr float32) int { return firstAtLeastGo(x, thr) }

func maxAbsBits(row []float32) uint32 { return maxAbsBitsGo(row) }

func quantizeSums(row []float32, out []int32, inv float32, levels int32, sc float64) quantSums {
	return quantizeGo(row, out, inv, levels, sc)
}

func packPanel(panel, rows []float32, dim, w int) { packGo(panel, rows, dim, w, 0, 0, dim) }
