package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeF32 writes a float32 .npy as NumPy does (version 1.0).
func writeF32(t *testing.T, path string, rows, cols int, v []float32) {
	t.Helper()
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	header += strings.Repeat(" ", (64-(10+len(header)+1)%64)%64) + "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), 0, 0)
	binary.LittleEndian.PutUint16(b[8:], uint16(len(header)))
	b = append(b, header...)
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNPYRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := []float32{1, -2, 3.5, 0, 7, 8}
	writeF32(t, filepath.Join(dir, "m.npy"), 2, 3, want)
	m, err := readMatrix(filepath.Join(dir, "m.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rows != 2 || m.Dim != 3 || !slices.Equal(m.Data, want) {
		t.Fatalf("read %+v, want 2×3 %v", m, want)
	}
	ids := []int64{5, -1, 3, 9}
	if err := writeIDs(filepath.Join(dir, "ids.npy"), ids, 2, 2); err != nil {
		t.Fatal(err)
	}
	got, rows, cols, err := readInt64(filepath.Join(dir, "ids.npy"))
	if err != nil || rows != 2 || cols != 2 || !slices.Equal(got, ids) {
		t.Fatalf("ids: %v %d×%d %v, want %v", got, rows, cols, err, ids)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "ids.npy"))
	if hl := int(binary.LittleEndian.Uint16(raw[8:10])); (10+hl)%64 != 0 {
		t.Fatalf("header of %d bytes is not padded to 64", 10+hl)
	}
	if _, err := readMatrix(filepath.Join(dir, "ids.npy")); err == nil || !strings.Contains(err.Error(), "float32") {
		t.Fatalf("int64 file read as a matrix: %v", err)
	}
}
