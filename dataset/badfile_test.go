package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func fixtureBytes(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNotParquet(t *testing.T) {
	good := fixtureBytes(t, "float_varchar.parquet")
	tests := []struct {
		name   string
		data   []byte
		reason string
	}{
		{"empty", nil, "too short"},
		{"magic only", []byte("PAR1"), "too short"},
		{"text", []byte("id,embedding\n1,\"[0.1, 0.2]\"\n"), "not a Parquet file"},
		{"truncated tail", good[:len(good)-10], "not a Parquet file, or truncated"},
		{"truncated half", good[:len(good)/2], "not a Parquet file, or truncated"},
		{"footer length too large", append(append([]byte{}, good[:len(good)-8]...), 0xff, 0xff, 0xff, 0x00, 'P', 'A', 'R', '1'), "not a Parquet file, or truncated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := OpenShard(bytes.NewReader(tt.data), int64(len(tt.data)), "x.parquet", Columns{})
			checkInputError(t, err, "x.parquet", "", -1, tt.reason)
		})
	}
}

// TestCorruptEmbeddingPage damages the bytes of the embedding column's pages:
// reading must fail with an InputError about that column, never succeed or panic.
func TestCorruptEmbeddingPage(t *testing.T) { bothPaths(t, testCorruptEmbeddingPage) }

func testCorruptEmbeddingPage(t *testing.T) {
	good := fixtureBytes(t, "float_varchar.parquet")
	s, err := OpenShard(bytes.NewReader(good), int64(len(good)), "x.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	c := s.embeddingChunks()[0]
	for off := c.start; off < c.end; off++ {
		for _, b := range []byte{0x00, 0xff} {
			bad := bytes.Clone(good)
			if bad[off] == b {
				continue
			}
			bad[off] = b
			s, err := OpenShard(bytes.NewReader(bad), int64(len(bad)), "x.parquet", Columns{})
			if err == nil {
				_, err = s.ReadEmbeddings(nil)
			}
			if err == nil {
				continue // some bytes, like statistics, do not change the values
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Object != "x.parquet" {
				t.Fatalf("byte %d set to %#x: %v (%T), want an InputError", off, b, err, err)
			}
		}
	}
}

var errNetwork = errors.New("network down")

// errCutShort is how an HTTP body cut short reaches a store's reader: a
// failure of the store that wraps io.ErrUnexpectedEOF, though the file is whole.
var errCutShort = fmt.Errorf("read s3://bucket/x.parquet bytes 4+100: %w", io.ErrUnexpectedEOF)

// failingReader fails every read at or past offset failAt with err.
type failingReader struct {
	data   []byte
	failAt int64
	err    error
}

func (f *failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.failAt {
		return 0, f.err
	}
	return copy(p, f.data[off:]), nil
}

// TestReaderErrorsAreNotInputErrors checks that a failing store is reported
// as itself (retryable), not as bad input, even when its error wraps
// io.ErrUnexpectedEOF.
func TestReaderErrorsAreNotInputErrors(t *testing.T) {
	for _, e := range []error{errNetwork, errCutShort} {
		t.Run(e.Error(), func(t *testing.T) {
			bothPaths(t, func(t *testing.T) { testReaderErrors(t, e) })
		})
	}
}

func testReaderErrors(t *testing.T, readErr error) {
	good := fixtureBytes(t, "queries_positives.parquet")
	size := int64(len(good))
	checkNotInputError := func(t *testing.T, err error) {
		t.Helper()
		var ie *InputError
		if !errors.Is(err, readErr) || errors.As(err, &ie) {
			t.Errorf("error %v, want the reader's error and no InputError", err)
		}
	}
	t.Run("footer", func(t *testing.T) {
		_, err := OpenShard(&failingReader{good, 0, readErr}, size, "x.parquet", Columns{})
		checkNotInputError(t, err)
	})
	// Open over a reader that fails on the data pages but serves the footer.
	fr := &failingReader{good, 0, readErr}
	fr.failAt = size
	s, err := OpenShard(fr, size, "x.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	fr.failAt = 4 // now everything but the magic bytes fails
	t.Run("embeddings", func(t *testing.T) {
		_, err := s.ReadEmbeddings(nil)
		checkNotInputError(t, err)
	})
	t.Run("ids", func(t *testing.T) {
		_, err := s.ReadIDs()
		checkNotInputError(t, err)
	})
	t.Run("positives", func(t *testing.T) {
		_, err := s.ReadPositives()
		checkNotInputError(t, err)
	})
}
