package miner

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// benchSizes are the search benchmarks: a small one for quick checks and
// the scaled-down FAISS comparison (nq=2000, nb=50000, d=384, k=100), whose
// data TestWriteBenchNPY writes for ../shared/bench/faiss_flat.py.
var benchSizes = []benchSize{
	{"nq=256/nb=16384/d=384/k=100", 256, 16384, 384, 100},
	{"nq=2000/nb=50000/d=384/k=100", 2000, 50000, 384, 100},
}

// benchSize is one search benchmark.
type benchSize struct {
	name      string
	nq, nb, d int
	k         int
}

// benchData returns normalised random queries and corpus, the same for a
// given size in the benchmark and in the .npy files.
func benchData(nq, nb, d int) (q, c Matrix) {
	r := rand.New(rand.NewPCG(uint64(nq), uint64(nb)))
	q, c = NewMatrix(nq, d), NewMatrix(nb, d)
	for _, m := range []Matrix{q, c} {
		for i := range m.Data {
			m.Data[i] = float32(r.NormFloat64())
		}
		Normalize(m)
	}
	return q, c
}

// BenchmarkSearchTile measures the exact search (kernel and top-k) in
// GFLOP/s, counting 2·nq·nb·d floating-point operations per search.
// HARDNEG_BENCH_K, a comma-separated list of k ("10,100,1000"), runs every
// size once per k instead of with its own k: the top-k's share grows with k.
// HARDNEG_BENCH_PRECISION=quantized measures the quantized search instead.
func BenchmarkSearchTile(b *testing.B) {
	for _, s := range benchKs(b) {
		b.Run(s.name, func(b *testing.B) {
			if testing.Short() && s.nq*s.nb > 1e7 {
				b.Skip("large size skipped in -short mode")
			}
			q, c := benchData(s.nq, s.nb, s.d)
			tile := Tile{Queries: q, Corpus: c, K: s.k, Precision: Precision(os.Getenv("HARDNEG_BENCH_PRECISION"))}
			b.ResetTimer()
			for b.Loop() {
				if _, err := SearchTile(tile); err != nil {
					b.Fatal(err)
				}
			}
			flops := 2 * float64(s.nq) * float64(s.nb) * float64(s.d) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// benchKs returns benchSizes, each repeated for every k of HARDNEG_BENCH_K
// when it is set.
func benchKs(b *testing.B) []benchSize {
	v := os.Getenv("HARDNEG_BENCH_K")
	if v == "" {
		return benchSizes
	}
	var out []benchSize
	for _, s := range benchSizes {
		for _, f := range strings.Split(v, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || k < 0 {
				b.Fatalf("HARDNEG_BENCH_K: %q is not a k", f)
			}
			s.k = k
			s.name = fmt.Sprintf("nq=%d/nb=%d/d=%d/k=%d", s.nq, s.nb, s.d, k)
			out = append(out, s)
		}
	}
	return out
}

// TestWriteBenchNPY writes the benchmark data as Q.npy and C.npy (float32,
// C order) into $HARDNEG_BENCH_NPY, for the FAISS comparison:
//
//	HARDNEG_BENCH_NPY=/tmp/bench go test -run TestWriteBenchNPY ./miner
//	python3 ../shared/bench/faiss_flat.py /tmp/bench/Q.npy /tmp/bench/C.npy 100
//
// HARDNEG_BENCH_SIZE picks the entry of benchSizes (default 1, the FAISS one).
func TestWriteBenchNPY(t *testing.T) {
	dir := os.Getenv("HARDNEG_BENCH_NPY")
	if dir == "" {
		t.Skip("set HARDNEG_BENCH_NPY to a folder to write the benchmark data")
	}
	idx := 1
	if v := os.Getenv("HARDNEG_BENCH_SIZE"); v != "" {
		var err error
		if idx, err = strconv.Atoi(v); err != nil {
			t.Fatal(err)
		}
	}
	s := benchSizes[idx]
	q, c := benchData(s.nq, s.nb, s.d)
	for name, m := range map[string]Matrix{"Q.npy": q, "C.npy": c} {
		if err := writeNPY(filepath.Join(dir, name), m); err != nil {
			t.Fatal(err)
		}
	}
}

// writeNPY writes m in NumPy's .npy format version 1.0.
func writeNPY(path string, m Matrix) error {
	header := fmt.Sprintf("{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", m.Rows, m.Dim)
	// Magic (6) + version (2) + header length (2) + header + '\n', padded to 64.
	pad := 64 - (10+len(header)+1)%64
	header += fmt.Sprintf("%*s\n", pad%64, "")
	buf := make([]byte, 0, 10+len(header)+4*len(m.Data))
	buf = append(buf, "\x93NUMPY\x01\x00"...)
	buf = binary.LittleEndian.AppendUint16(buf, uint16(len(header)))
	buf = append(buf, header...)
	for _, v := range m.Data {
		buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// TestAgreesWithFAISS compares our top-k with the ids FAISS wrote
// (faiss_flat.py --ids $HARDNEG_BENCH_NPY/ids.npy). FAISS sums in another
// order (sgemm), so near-ties may swap at the edge of the list; the test
// asks that at least 99.9% of the ids agree as sets per query.
func TestAgreesWithFAISS(t *testing.T) {
	dir := os.Getenv("HARDNEG_BENCH_NPY")
	if dir == "" {
		t.Skip("set HARDNEG_BENCH_NPY to the folder of Q.npy, C.npy and ids.npy")
	}
	raw, err := os.ReadFile(filepath.Join(dir, "ids.npy"))
	if err != nil {
		t.Skip(err)
	}
	hlen := int(binary.LittleEndian.Uint16(raw[8:10]))
	body := raw[10+hlen:]
	s := benchSizes[1]
	k := len(body) / 8 / s.nq
	q, c := benchData(s.nq, s.nb, s.d)
	res, err := SearchTile(Tile{Queries: q, Corpus: c, K: k})
	if err != nil {
		t.Fatal(err)
	}
	same := 0
	for i, p := range res {
		theirs := map[int64]bool{}
		for j := range k {
			theirs[int64(binary.LittleEndian.Uint64(body[8*(i*k+j):]))] = true
		}
		for _, cand := range p.Top {
			if theirs[cand.Row] {
				same++
			}
		}
	}
	frac := float64(same) / float64(s.nq*k)
	t.Logf("%d of %d ids agree with FAISS (%.5f)", same, s.nq*k, frac)
	if frac < 0.999 {
		t.Fatalf("only %.5f of the ids agree with FAISS", frac)
	}
}
