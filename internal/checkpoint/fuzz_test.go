package checkpoint

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// The fuzz targets feed the decoders both raw bytes and bytes compressed
// first (pack is true), so that the fuzzer explores the layout under the
// compression as well as the zstd frames. Any input decodes or fails with an
// error naming the file; none panics, and none allocates more than its size
// allows (count, decodeBuffer).

const fuzzName = "_work/fp/tile-b00001-s00002.ckpt"

func unpacked(t testing.TB, data []byte) []byte {
	raw, err := zstdDecoder.DecodeAll(data, decodeBuffer(data))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func fuzzInput(data []byte, pack bool) []byte {
	if pack {
		return zstdEncoder.EncodeAll(data, nil)
	}
	return data
}

func checkNamed(t *testing.T, err error) {
	t.Helper()
	if !strings.Contains(err.Error(), fuzzName) {
		t.Fatalf("error %q does not name %s", err, fuzzName)
	}
}

// FuzzDecodePartials decodes any bytes as a tile's partials of 30 queries.
func FuzzDecodePartials(f *testing.F) {
	for i, shape := range []struct {
		queries     int
		first, rows int64
	}{{30, 100, 200}, {30, 0, 1}, {30, 1 << 40, 5000}} {
		good, err := EncodePartials(samplePartials(shape.queries, shape.first, int(shape.rows), uint64(i)), shape.first, int(shape.rows), shardID)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(good, false)
		f.Add(unpacked(f, good), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, pack bool) {
		partials, table, err := DecodePartials(fuzzInput(data, pack), fuzzName, 30)
		if err != nil {
			checkNamed(t, err)
			return
		}
		if len(partials) != 30 || table == nil || len(table.Rows) != len(table.IDs) {
			t.Fatalf("decoded %d partials, table %v", len(partials), table)
		}
	})
}

// FuzzDecodeWindows decodes any bytes as a block's candidate windows.
func FuzzDecodeWindows(f *testing.F) {
	qws, table := sampleWindows()
	good := EncodeWindows(qws, table)
	f.Add(good, false)
	f.Add(unpacked(f, good), true)
	f.Add(EncodeWindows(nil, &IDTable{}), false)
	f.Fuzz(func(t *testing.T, data []byte, pack bool) {
		qws, err := DecodeWindows(fuzzInput(data, pack), fuzzName)
		if err != nil {
			checkNamed(t, err)
			return
		}
		for _, qw := range qws {
			if qw.IDs == nil {
				t.Fatal("a window without its id table")
			}
		}
	})
}

// TestDecompressionBombRefused streams 256 MiB of zeros through zstd into a
// frame of some 50 KB that does not state its size: decoding it fails naming
// the file instead of inflating it (more than maxRatio times its size).
func TestDecompressionBombRefused(t *testing.T) {
	var bomb bytes.Buffer
	w, err := zstd.NewWriter(&bomb, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.LimitReader(zeros{}, 256<<20)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes of zstd inflate to 256 MiB", bomb.Len())
	_, _, err = DecodePartials(bomb.Bytes(), fuzzName, 30)
	if err == nil {
		t.Fatal("a decompression bomb decoded")
	}
	checkNamed(t, err)
	_, err = DecodeWindows(bomb.Bytes(), fuzzName)
	if err == nil {
		t.Fatal("a decompression bomb decoded as windows")
	}
	checkNamed(t, err)
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
