package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

// The reading benchmarks need a 100,000 × 768 float32 shard written by DuckDB
// (about 280 MB, list<float32>, zstd). It is not committed: the first run
// writes it with testdata/gen/gen.mjs into the user's cache directory (or
// $HARDNEG_BENCH_SHARD), installing the script's npm packages if needed, and
// later runs reuse it. Without node the benchmarks are skipped.
const (
	benchRows = 100_000
	benchDim  = 768
)

// benchShard returns the path of the benchmark shard, writing it if needed.
func benchShard(b *testing.B) string {
	b.Helper()
	path := os.Getenv("HARDNEG_BENCH_SHARD")
	if path == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		path = filepath.Join(dir, "hardneg", "bench", fmt.Sprintf("duckdb-%dx%d.parquet", benchRows, benchDim))
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	node, err := exec.LookPath("node")
	if err != nil {
		b.Skipf("benchmark shard %s is missing and node is not installed to write it with DuckDB (testdata/gen/gen.mjs)", path)
	}
	gen, err := filepath.Abs(filepath.Join("testdata", "gen"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(gen, "node_modules")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			b.Skipf("benchmark shard %s is missing and npm is not installed to fetch DuckDB", path)
		}
		if out, err := runIn(gen, npm, "ci", "--no-audit", "--no-fund"); err != nil {
			b.Skipf("npm ci in %s failed, cannot write the benchmark shard: %v\n%s", gen, err, out)
		}
	}
	b.Logf("writing %s with DuckDB", path)
	if out, err := runIn(gen, node, "gen.mjs", "bench", path, fmt.Sprint(benchRows), fmt.Sprint(benchDim)); err != nil {
		b.Fatalf("writing the benchmark shard: %v\n%s", err, out)
	}
	return path
}

func runIn(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

// BenchmarkReadShard reads the embeddings of the DuckDB shard. Its MB/s are
// embedding bytes (rows × dim × 4) per second, for every sub-benchmark,
// including ReadFile (a plain os.ReadFile of the same file) and the
// parquet-go page API for scale.
func BenchmarkReadShard(b *testing.B) {
	path := benchShard(b)
	embBytes := int64(benchRows * benchDim * 4)
	b.Run("ReadFile", func(b *testing.B) {
		b.SetBytes(embBytes)
		for b.Loop() {
			if _, err := os.ReadFile(path); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, par := range []int{0, 1} {
		name := "ReadEmbeddings"
		if par == 1 {
			name += "/one-core"
		}
		b.Run(name, func(b *testing.B) {
			f, size := openBench(b, path)
			var dst []float32
			b.SetBytes(embBytes)
			defer reportCPU(b)()
			for b.Loop() {
				s, err := OpenShard(f, size, path, Columns{})
				if err != nil {
					b.Fatal(err)
				}
				if par > 0 {
					s.Parallelism = par
				}
				if dst, err = s.ReadEmbeddings(dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// One query block from the middle of the shard: the file bytes read per
	// block (file-B/op) against the shard's size say what the range saves.
	b.Run("ReadEmbeddingsRange/4096-rows", func(b *testing.B) {
		f, size := openBench(b, path)
		cr := &countingReader{r: f}
		lo := int64(benchRows / 2)
		var dst []float32
		b.SetBytes(4096 * benchDim * 4)
		defer reportCPU(b)()
		for b.Loop() {
			s, err := OpenShard(cr, size, path, Columns{})
			if err != nil {
				b.Fatal(err)
			}
			if dst, err = s.ReadEmbeddingsRange(lo, lo+4096, dst); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cr.n.Load())/float64(b.N), "file-B/op")
		b.ReportMetric(float64(size), "shard-B")
	})
	b.Run("parquet-go-pages", func(b *testing.B) {
		f, size := openBench(b, path)
		b.SetBytes(embBytes)
		for b.Loop() {
			if n := readPagesParquetGo(b, f, size); n != benchRows*benchDim {
				b.Fatalf("%d values", n)
			}
		}
	})
}

// readPagesParquetGo reads every page of the embedding column through
// parquet-go's page API and returns the number of values.
func readPagesParquetGo(b *testing.B, f io.ReaderAt, size int64) int {
	pf, err := parquet.OpenFile(f, size)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, rg := range pf.RowGroups() {
		pages := rg.ColumnChunks()[1].Pages()
		for {
			p, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			data := p.Data()
			n += len(data.Float())
		}
		pages.Close()
	}
	return n
}

// reportCPU reports the process's CPU time per operation (user and system),
// which on a shared machine says more than wall time about the work done.
// Call it before the loop and defer what it returns.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func openBench(b *testing.B, path string) (*os.File, int64) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return f, st.Size()
}

// BenchmarkWriteNTuples writes a 100,000-row n-tuple part (string ids, one or
// two positives and 8 negatives per row) to memory. Run it with -cpu 1 for the
// one-core figure.
func BenchmarkWriteNTuples(b *testing.B) {
	for _, negatives := range []int{8, 32} {
		b.Run(fmt.Sprintf("negatives=%d", negatives), func(b *testing.B) {
			rows := ntuples(100_000, negatives, stringID, rand.New(rand.NewPCG(1, 2)))
			var buf bytes.Buffer
			defer reportCPU(b)()
			for b.Loop() {
				buf.Reset()
				if err := WriteNTuples(&buf, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(buf.Len()), "file-bytes")
		})
	}
}
