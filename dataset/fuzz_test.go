package dataset

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzObject is the name the fuzz targets give the object: every error must
// name it.
const fuzzObject = "fuzz/shard.parquet"

// addFixtures seeds f with the bytes of every DuckDB-written fixture in
// testdata, good and bad, and a shard written by this package's tests.
func addFixtures(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.parquet"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures in testdata: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// checkErr fails the fuzz input when err is not an error about the object:
// an *InputError naming it, or a caller's mistake (never here).
func checkErr(t *testing.T, what string, err error) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) || ie.Object != fuzzObject || !strings.Contains(err.Error(), fuzzObject) {
		t.Fatalf("%s: %v (%T), want an *InputError naming %s", what, err, err, fuzzObject)
	}
}

// fuzzColumns reads the positives of the query fixtures as well as ids and
// embeddings; a missing positives or label column is no error.
var fuzzColumns = Columns{Positives: "positive_ids", Label: "label"}

// FuzzOpenShard opens any bytes as a shard: it opens, or fails with an
// *InputError naming the object; it never panics.
func FuzzOpenShard(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := openFuzzed(t, data)
		if s == nil {
			return
		}
		if s.Rows() <= 0 || s.Dim() <= 0 {
			t.Fatalf("opened a shard of %d rows × %d dimensions", s.Rows(), s.Dim())
		}
	})
}

// FuzzReadRows opens any bytes as a shard and reads every column of it,
// whole and in a range: each read returns its rows or an *InputError naming
// the object; none panics, and none allocates more than the object's bytes
// can hold (readCap).
func FuzzReadRows(f *testing.F) {
	addFixtures(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s := openFuzzed(t, data)
		if s == nil {
			return
		}
		s.Parallelism = 2
		lo, hi := s.Rows()/3, s.Rows()-s.Rows()/3
		if emb, err := s.ReadEmbeddings(nil); err != nil {
			checkErr(t, "ReadEmbeddings", err)
		} else if int64(len(emb)) != s.Rows()*int64(s.Dim()) {
			t.Fatalf("ReadEmbeddings: %d values, want %d × %d", len(emb), s.Rows(), s.Dim())
		}
		if _, err := s.ReadEmbeddingsRange(lo, hi, nil); err != nil {
			checkErr(t, "ReadEmbeddingsRange", err)
		}
		if ids, err := s.ReadIDs(); err != nil {
			checkErr(t, "ReadIDs", err)
		} else if int64(ids.Len()) != s.Rows() {
			t.Fatalf("ReadIDs: %d ids for %d rows", ids.Len(), s.Rows())
		}
		if _, err := s.ReadIDsRange(lo, hi); err != nil {
			checkErr(t, "ReadIDsRange", err)
		}
		if s.HasPositives() {
			if _, err := s.ReadPositives(); err != nil {
				checkErr(t, "ReadPositives", err)
			}
		}
		if s.HasLabels() {
			if _, err := s.ReadLabels(); err != nil {
				checkErr(t, "ReadLabels", err)
			}
		}
	})
}

// openFuzzed opens fuzzed bytes as a shard; when they do not open, it checks
// the error names the object and returns nil.
func openFuzzed(t *testing.T, data []byte) *Shard {
	s, err := OpenShard(bytes.NewReader(data), int64(len(data)), fuzzObject, fuzzColumns)
	if err != nil {
		checkErr(t, "OpenShard", err)
		return nil
	}
	return s
}
