//go:build !amd64 || purego

package kernel

// Off amd64 (arm64 included) and under purego, the corpus's passes before a
// search run in Go: its largest magnitude, its quantization and its packing;
// so does the residual check's sum.

func maxAbsBits(row []float32) uint32 { return maxAbsBitsGo(row) }

func quantizeSums(row []float32, out []int32, inv float32, levels int32, sc float64) quantSums {
	return quantizeGo(row, out, inv, levels, sc)
}

func packPanel(panel, rows []float32, dim, w int) { packGo(panel, rows, dim, w, 0, 0, dim) }

func residualDots(dst []int32, q []int8, rows []uint8, offs []int32) {
	residualDotsGo(dst, q, rows, offs)
}
