package miner

import (
	"fmt"
	"math"

	"github.com/hardneg/hardneg/miner/internal/kernel"
)

// Matrix is a dense row-major block of float32 vectors: row i is
// Data[i*Dim:(i+1)*Dim].
type Matrix struct {
	Rows, Dim int
	Data      []float32
}

// NewMatrix returns a zeroed rows × dim matrix.
func NewMatrix(rows, dim int) Matrix {
	return Matrix{Rows: rows, Dim: dim, Data: make([]float32, rows*dim)}
}

// Row returns row i, sharing memory with m.
func (m Matrix) Row(i int) []float32 {
	return m.Data[i*m.Dim : (i+1)*m.Dim : (i+1)*m.Dim]
}

// Slice returns rows [from, to) of m, sharing memory with m.
func (m Matrix) Slice(from, to int) Matrix {
	return Matrix{Rows: to - from, Dim: m.Dim, Data: m.Data[from*m.Dim : to*m.Dim : to*m.Dim]}
}

// Validate reports a matrix whose shape and data disagree, or that holds a
// NaN or an infinity (they would make the order of scores undefined).
func (m Matrix) Validate() error {
	_, err := m.check()
	return err
}

// check is Validate, and returns the largest magnitude of m's values, which
// the quantized search needs: one pass over the data for both, as it runs
// over every shard of every tile.
func (m Matrix) check() (float32, error) {
	if m.Rows < 0 || m.Dim < 0 {
		return 0, fmt.Errorf("matrix shape %d×%d is negative", m.Rows, m.Dim)
	}
	if m.Rows > 0 && m.Dim == 0 {
		return 0, fmt.Errorf("matrix has %d rows of dimension 0", m.Rows)
	}
	if len(m.Data) != m.Rows*m.Dim {
		return 0, fmt.Errorf("matrix %d×%d holds %d values, want %d", m.Rows, m.Dim, len(m.Data), m.Rows*m.Dim)
	}
	mx := kernel.MaxAbs(m.Data) // below +Inf exactly when every value is finite
	if mx < float32(math.Inf(1)) {
		return mx, nil
	}
	for i, v := range m.Data {
		// v-v is 0 for every finite v and NaN for NaN and ±Inf.
		if v-v != 0 {
			return 0, fmt.Errorf("row %d, element %d is %v", i/m.Dim, i%m.Dim, v)
		}
	}
	return mx, nil
}

// Normalize scales every row of m to unit length in place, so that inner
// products are cosine similarities. A zero row stays zero (it scores 0
// against everything). The norm is accumulated in float64 so that it does
// not depend on summation tricks.
func Normalize(m Matrix) {
	for i := 0; i < m.Rows; i++ {
		row := m.Row(i)
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		if ss == 0 {
			continue
		}
		inv := 1 / math.Sqrt(ss)
		for d, v := range row {
			row[d] = float32(float64(v) * inv)
		}
	}
}
