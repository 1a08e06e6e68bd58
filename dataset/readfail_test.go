package dataset

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"reflect"
	"sync"
	"syscall"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// Injected read failures, one of each class a store can return: a throttle
// the store gave up on (retry), a reset connection (retry), a body cut short
// (retry, though it wraps io.ErrUnexpectedEOF) and access denied (fail now).
var readFailures = []error{
	errors.New("operation error S3: GetObject, exceeded maximum number of attempts, 3, api error SlowDown: 503 SlowDown"),
	fmt.Errorf("read tcp 127.0.0.1:1->127.0.0.1:2: %w", syscall.ECONNRESET),
	fmt.Errorf("read s3://bucket/x.parquet bytes 4+100: %w", io.ErrUnexpectedEOF),
	fmt.Errorf("read s3://bucket/x.parquet: %w", fs.ErrPermission),
}

// nthFailingReader fails exactly its nth ReadAt call (0-based) with err and
// serves every other call from data, so that a failure can land in the
// middle of a read that had been going well.
type nthFailingReader struct {
	data []byte
	err  error
	mu   sync.Mutex
	n    int // the call to fail; -1: none
	seen int // calls so far
}

func (r *nthFailingReader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	call := r.seen
	r.seen++
	r.mu.Unlock()
	if call == r.n {
		return 0, r.err
	}
	if off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	n := copy(p, r.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readPath is one way of reading a shard, from opening it on.
type readPath struct {
	name string
	read func(s *Shard) (any, error)
}

func readPaths(rows int64) []readPath {
	lo, hi := rows/3, rows/3+min(rows, 100)/2+1
	hi = min(hi, rows)
	return []readPath{
		{"footer", func(s *Shard) (any, error) { return s.Dim(), nil }},
		{"embeddings", func(s *Shard) (any, error) { return s.ReadEmbeddings(nil) }},
		{"embedding range", func(s *Shard) (any, error) { return s.ReadEmbeddingsRange(lo, hi, nil) }},
		{"ids", func(s *Shard) (any, error) { return s.ReadIDs() }},
		{"id range", func(s *Shard) (any, error) { return s.ReadIDsRange(lo, hi) }},
		{"positives", func(s *Shard) (any, error) {
			if !s.HasPositives() {
				return nil, nil
			}
			return s.ReadPositivesRange(lo, hi)
		}},
	}
}

// TestReadFailuresKeepTheirClass drives every read path of a shard through a
// failure of each class at each of its reads in turn, and checks that what
// comes out is the store's error as it is, never a corrupt-input
// *InputError: a throttled read must stay retryable. A read that works
// around a failure (an optional offset index that could not be read) may
// succeed instead, but then with the same result as without the failure.
func TestReadFailuresKeepTheirClass(t *testing.T) {
	type input struct {
		name string
		data []byte
	}
	inputs := []input{{"duckdb", fixtureBytes(t, "queries_positives.parquet")}}
	for _, l := range []layout{
		{rows: 300, dim: 24, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 4096},
		{rows: 300, dim: 24, elem: Float32, codec: &parquet.Snappy, pageV: 2, pageBuffer: 1 << 20, rowGroupRows: 64},
		{rows: 300, dim: 24, elem: Float32, codec: &parquet.Uncompressed, pageV: 1, pageBuffer: 100},
		{rows: 300, dim: 24, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 4096, enc: &parquet.RLEDictionary},
	} {
		inputs = append(inputs, input{l.String(), writeShard(t, l, nil)})
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			bothIndexPaths(t, func(t *testing.T) {
				bothPaths(t, func(t *testing.T) { testReadFailures(t, in.data) })
			})
		})
	}
}

func testReadFailures(t *testing.T, data []byte) {
	s := openGen(t, data)
	for _, path := range readPaths(s.Rows()) {
		want, calls := cleanRead(t, data, path)
		for _, injected := range readFailures {
			for _, n := range failingCalls(calls) {
				got, err := readWithFailure(data, path, injected, n)
				var ie *InputError
				switch {
				case err == nil && !reflect.DeepEqual(got, want):
					t.Errorf("%s, read %d of %d failing with %q: no error and a wrong result", path.name, n, calls, injected)
				case err != nil && (!errors.Is(err, injected) || errors.As(err, &ie)):
					t.Errorf("%s, read %d of %d failing with %q: got %v, want the store's error and no InputError",
						path.name, n, calls, injected, err)
				}
			}
		}
	}
}

// failingCalls picks which of calls reads to fail: every one of the first
// 24, then about 16 spread over the rest, to bound the test's time.
func failingCalls(calls int) []int {
	var out []int
	step := max(1, (calls-24)/16)
	for n := 0; n < calls; n++ {
		if n >= 24 && (n-24)%step != 0 && n != calls-1 {
			continue
		}
		out = append(out, n)
	}
	return out
}

// cleanRead opens the shard and reads path without failures, and counts
// the ReadAt calls that took.
func cleanRead(t *testing.T, data []byte, path readPath) (result any, calls int) {
	r := &nthFailingReader{data: data, n: -1}
	s, err := OpenShard(r, int64(len(data)), "x.parquet", Columns{})
	if err == nil {
		result, err = path.read(s)
	}
	if err != nil {
		t.Fatalf("%s without failures: %v", path.name, err)
	}
	return result, r.seen
}

// readWithFailure opens the shard and reads path with the nth ReadAt failing.
func readWithFailure(data []byte, path readPath, injected error, n int) (any, error) {
	r := &nthFailingReader{data: data, n: n, err: injected}
	s, err := OpenShard(r, int64(len(data)), "x.parquet", Columns{})
	if err != nil {
		return nil, err
	}
	return path.read(s)
}
