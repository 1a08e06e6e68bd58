package dataset

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The range readers find the pages of a range from the offset index or, where
// a file has none, from the page headers. parquet-go writes an offset index
// and DuckDB does not, so every parquet-go layout is read both ways.

// bothIndexPaths runs f with the offset index used and, again, ignored.
func bothIndexPaths(t *testing.T, f func(t *testing.T)) {
	t.Run("index", f)
	t.Run("headers", func(t *testing.T) {
		usePageIndex = false
		defer func() { usePageIndex = true }()
		f(t)
	})
}

// allPaths runs f over both index paths and both page-reading paths.
func allPaths(t *testing.T, f func(t *testing.T)) {
	bothIndexPaths(t, func(t *testing.T) { bothPaths(t, f) })
}

// testRanges returns ranges of a shard of n rows that start and end at its
// ends, inside one page, across pages and across row groups, and one empty.
func testRanges(n int64) [][2]int64 {
	cands := [][2]int64{{0, n}, {0, 1}, {n - 1, n}, {1, n - 1}, {n / 3, n / 2}, {7, 8}, {6, 65}, {63, 64}, {n / 2, n / 2}, {n - 40, n - 3}}
	var out [][2]int64
	seen := map[[2]int64]bool{}
	for _, r := range cands {
		lo, hi := max(r[0], 0), min(r[1], n)
		if lo > hi || seen[[2]int64{lo, hi}] {
			continue
		}
		seen[[2]int64{lo, hi}] = true
		out = append(out, [2]int64{lo, hi})
	}
	return out
}

// wantEmbeddings returns the embeddings of rows [lo, hi) of a layout shard.
func wantEmbeddings(lo, hi int64, dim int) []float32 {
	want := make([]float32, 0, int(hi-lo)*dim)
	for i := lo; i < hi; i++ {
		for j := range dim {
			want = append(want, value(int(i), j))
		}
	}
	return want
}

func TestReadRangesInLayouts(t *testing.T) { allPaths(t, testReadRangesInLayouts) }

func testReadRangesInLayouts(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.String(), func(t *testing.T) {
			data := writeShard(t, l, nil)
			s := openGen(t, data)
			for _, r := range testRanges(s.Rows()) {
				lo, hi := r[0], r[1]
				got, err := s.ReadEmbeddingsRange(lo, hi, nil)
				if err != nil {
					t.Fatalf("rows [%d, %d): %v", lo, hi, err)
				}
				if want := wantEmbeddings(lo, hi, l.dim); !slices.Equal(got, want) {
					t.Fatalf("rows [%d, %d): embeddings differ from what was written", lo, hi)
				}
				ids, err := s.ReadIDsRange(lo, hi)
				if err != nil {
					t.Fatalf("ids [%d, %d): %v", lo, hi, err)
				}
				if ids.Len() != int(hi-lo) || (hi > lo && (ids.Strings()[0] != fmt.Sprintf("r%d", lo) || ids.Strings()[hi-lo-1] != fmt.Sprintf("r%d", hi-1))) {
					t.Fatalf("ids [%d, %d): %v", lo, hi, ids.Strings())
				}
			}
		})
	}
}

// TestReadRangeReusesDst checks that dst is filled in place when it is large enough.
func TestReadRangeReusesDst(t *testing.T) {
	l := layout{rows: 100, dim: 8, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 512}
	data := writeShard(t, l, nil)
	s := openGen(t, data)
	dst := make([]float32, 1000)
	got, err := s.ReadEmbeddingsRange(40, 50, dst)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 80 || &got[0] != &dst[0] {
		t.Errorf("got %d values at %p, want 80 in dst (%p)", len(got), &got[0], &dst[0])
	}
	if !reflect.DeepEqual(got, wantEmbeddings(40, 50, 8)) {
		t.Error("embeddings differ from what was written")
	}
}

// pageRows returns the first row within the shard of every embedding page,
// from the offset index parquet-go writes, and the shard's rows at the end.
func pageRows(t *testing.T, s *Shard) []int64 {
	t.Helper()
	var rows []int64
	var first int64
	for _, rg := range s.file.RowGroups() {
		oi, err := rg.ColumnChunks()[s.embedding.index].(*parquet.FileColumnChunk).OffsetIndex()
		if err != nil {
			t.Fatal(err)
		}
		for i := range oi.NumPages() {
			rows = append(rows, first+oi.FirstRowIndex(i))
		}
		first += rg.NumRows()
	}
	return append(rows, first)
}

// TestBadRowsInRanges puts one bad row into several layouts (NaN values are
// covered by the DuckDB fixtures: the layout writer marks null elements so). A range that
// holds it reports it by its row in the shard; a range in other pages reads
// its rows right, which, without an offset index, needs the rows of the pages
// before it counted exactly, not from the number of values.
func TestBadRowsInRanges(t *testing.T) { allPaths(t, testBadRowsInRanges) }

func testBadRowsInRanges(t *testing.T) {
	defects := rowDefects(1)
	ls := []layout{
		{rows: 200, dim: 16, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 1024},
		{rows: 200, dim: 16, elem: Float32, codec: &parquet.Snappy, pageV: 2, pageBuffer: 1024, rowGroupRows: 70},
		{rows: 200, dim: 5, elem: Float64, codec: &parquet.Zstd, pageV: 1, pageBuffer: 256, enc: &parquet.RLEDictionary},
		{rows: 200, dim: 16, elem: Float16, codec: &parquet.Uncompressed, pageV: 1, pageBuffer: 512, rowGroupRows: 90},
	}
	for _, l := range ls {
		for _, d := range defects {
			for _, row := range []int64{1, 97, int64(l.rows) - 1} {
				t.Run(fmt.Sprintf("%v/%s/row%d", l, d.name, row), func(t *testing.T) {
					data := writeShard(t, l, func(i int, emb []float32) ([]float32, bool) {
						if int64(i) != row {
							return nil, false
						}
						return d.bad(emb), true
					})
					s := openGen(t, data)
					lo, hi := max(row-2, 0), min(row+3, s.Rows())
					_, err := s.ReadEmbeddingsRange(lo, hi, nil)
					checkInputError(t, err, "gen.parquet", "embedding", row, d.reason)

					// A range of pages that do not hold the bad row.
					starts := pageRows(t, s)
					i := sort.Search(len(starts), func(i int) bool { return starts[i] > row }) - 1
					var olo, ohi int64
					if i+2 < len(starts) {
						olo, ohi = starts[i+1], starts[len(starts)-1]
					} else if i > 0 {
						olo, ohi = 0, starts[i]
					} else {
						t.Fatalf("the bad row's page holds every row: %v", starts)
					}
					got, err := s.ReadEmbeddingsRange(olo, ohi, nil)
					if err != nil {
						t.Fatalf("rows [%d, %d) away from row %d: %v", olo, ohi, row, err)
					}
					if !reflect.DeepEqual(got, wantEmbeddings(olo, ohi, l.dim)) {
						t.Fatalf("rows [%d, %d) away from row %d: embeddings differ from what was written", olo, ohi, row)
					}
				})
			}
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestRangeReadsOnlyItsPages checks how many bytes a range read costs: with
// an offset index, its pages and the index; without one, also a header read
// per page before the range (and, for version 1, the start of its body).
func TestRangeReadsOnlyItsPages(t *testing.T) {
	const pageBytes = 512 << 10
	for _, v := range []int{1, 2} {
		l := layout{rows: 6000, dim: 256, elem: Float32, codec: &parquet.Uncompressed, pageV: v, pageBuffer: pageBytes, rowGroupRows: 4000}
		data := writeShard(t, l, nil)
		open := func(t *testing.T) (*Shard, *countingReader) {
			cr := &countingReader{r: bytes.NewReader(data)}
			s, err := OpenShard(cr, int64(len(data)), "gen.parquet", Columns{})
			if err != nil {
				t.Fatal(err)
			}
			cr.n.Store(0)
			return s, cr
		}
		s, _ := open(t)
		starts := pageRows(t, s)
		// Rows in the middle of the first row group's fourth-last page.
		pages := sort.Search(len(starts), func(i int) bool { return starts[i] >= 4000 })
		lo := starts[pages-4] + 3
		hi := lo + 5
		bothIndexPaths(t, func(t *testing.T) {
			t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
				s, cr := open(t)
				got, err := s.ReadEmbeddingsRange(lo, hi, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, wantEmbeddings(lo, hi, l.dim)) {
					t.Fatal("embeddings differ from what was written")
				}
				limit := int64(pageBytes + 4<<10) // the page, and an index or a header
				if !usePageIndex {
					limit += int64(pages-4) * 2 * walkRead
				}
				if n := cr.n.Load(); n > limit || n >= int64(len(data))/3 {
					t.Errorf("read %d bytes of a %d-byte file for rows [%d, %d); want at most %d", n, len(data), lo, hi, limit)
				}
			})
		})
	}
}

// TestRangesOfDuckDBFixture reads ranges across the row groups of a shard
// written by DuckDB (which writes no offset index): every column.
func TestRangesOfDuckDBFixture(t *testing.T) { bothPaths(t, testRangesOfDuckDBFixture) }

func testRangesOfDuckDBFixture(t *testing.T) {
	const rows = 5000
	s, err := openFixture(t, "multi_rowgroup.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s.file.RowGroups()); s.Rows() != rows || n < 3 {
		t.Fatalf("%d rows in %d row groups, want %d in at least 3", s.Rows(), n, rows)
	}
	for _, r := range [][2]int64{{0, rows}, {0, 10}, {2040, 2060}, {2048, 2049}, {2047, 4097}, {1000, 4500}, {4999, 5000}, {3000, 3000}} {
		lo, hi := r[0], r[1]
		t.Run(fmt.Sprintf("%d-%d", lo, hi), func(t *testing.T) {
			emb, err := s.ReadEmbeddingsRange(lo, hi, nil)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := s.ReadIDsRange(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			labels, err := s.ReadLabelsRange(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			pos, err := s.ReadPositivesRange(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			if len(emb) != int(hi-lo)*fixtureDim || ids.Len() != int(hi-lo) || labels.Len() != int(hi-lo) || pos.Len() != int(hi-lo) {
				t.Fatalf("%d values, %d ids, %d labels, %d lists for %d rows", len(emb), ids.Len(), labels.Len(), pos.Len(), hi-lo)
			}
			for i := lo; i < hi; i++ {
				r := int(i - lo)
				for j := range fixtureDim {
					if got, want := emb[r*fixtureDim+j], float32(i)+float32(j)/4; got != want {
						t.Fatalf("row %d element %d: %v, want %v", i, j, got, want)
					}
				}
				if got, want := ids.Strings()[r], fmt.Sprintf("doc-%d", i); got != want {
					t.Fatalf("row %d: id %s, want %s", i, got, want)
				}
				if got, want := labels.Strings()[r], fmt.Sprintf("L%d", i%3); got != want {
					t.Fatalf("row %d: label %s, want %s", i, got, want)
				}
				var want []string
				for k := range i % 3 {
					want = append(want, fmt.Sprintf("doc-%d", i+k+1))
				}
				if got := pos.Row(r).Strings(); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
					t.Fatalf("row %d: positives %v, want %v", i, got, want)
				}
			}
		})
	}
}

// TestRangesOfBadFixtures checks that a range holds a fault in its rows, by
// its row within the shard, and that a value fault in another row does not
// fail it (DuckDB writes these shards as one page).
func TestRangesOfBadFixtures(t *testing.T) { bothPaths(t, testRangesOfBadFixtures) }

func testRangesOfBadFixtures(t *testing.T) {
	tests := []struct {
		file    string
		read    func(s *Shard, lo, hi int64) error
		lo, hi  int64
		column  string
		row     int64 // -1: the range reads
		reasons string
	}{
		{"bad_nan.parquet", readEmb, 3, 5, "embedding", 4, "element 1 is NaN"},
		{"bad_nan.parquet", readEmb, 0, 4, "", -1, ""},
		{"bad_nan.parquet", readEmb, 5, 6, "", -1, ""},
		{"bad_inf.parquet", readEmb, 2, 3, "embedding", 2, "element 2 is +Inf"},
		{"bad_null_embedding.parquet", readEmb, 3, 6, "embedding", 3, "null embedding"},
		{"bad_dimension.parquet", readEmb, 4, 6, "embedding", 5, "dimension 3, want 4"},
		{"bad_null_element.parquet", readEmb, 1, 4, "embedding", 3, "element 1 is null"},
		{"bad_duplicate_ids.parquet", readIDs, 0, 6, "id", 5, `duplicate id "doc-0" (also row 0)`},
		{"bad_duplicate_ids.parquet", readIDs, 1, 6, "", -1, ""},
		{"bad_null_id.parquet", readIDs, 0, 3, "id", 1, "null"},
		{"bad_null_id.parquet", readIDs, 2, 6, "", -1, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d-%d", tt.file, tt.lo, tt.hi), func(t *testing.T) {
			s, err := openFixture(t, tt.file, Columns{})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.read(s, tt.lo, tt.hi)
			if tt.row < 0 {
				if err != nil {
					t.Fatalf("rows [%d, %d): %v", tt.lo, tt.hi, err)
				}
				return
			}
			checkInputError(t, err, tt.file, tt.column, tt.row, tt.reasons)
		})
	}
}

func readEmb(s *Shard, lo, hi int64) error {
	_, err := s.ReadEmbeddingsRange(lo, hi, nil)
	return err
}

func readIDs(s *Shard, lo, hi int64) error {
	_, err := s.ReadIDsRange(lo, hi)
	return err
}

func TestRangesOfDuckDBPositives(t *testing.T) {
	s, err := openFixture(t, "queries_positives_bigint.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	pos, err := s.ReadPositivesRange(3, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := Lists{Offsets: []int64{0, 2, 4, 4}, IDs: Int64IDs([]int64{1004, 1005, 1005, 1006})}
	if !reflect.DeepEqual(pos, want) {
		t.Errorf("positives of rows [3, 6): %+v, want %+v", pos, want)
	}
	labels, err := openFixtureLabels(t, "float_bigint.parquet", 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	if want := Int64IDs([]int64{2, 0, 1}); !reflect.DeepEqual(labels, want) {
		t.Errorf("labels of rows [2, 5): %v, want %v", labels, want)
	}
}

func openFixtureLabels(t *testing.T, name string, lo, hi int64) (IDs, error) {
	s, err := openFixture(t, name, Columns{})
	if err != nil {
		return IDs{}, err
	}
	return s.ReadLabelsRange(lo, hi)
}

func TestRangeOutsideShard(t *testing.T) {
	s, err := openFixture(t, "float_varchar.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]func(lo, hi int64) error{
		"embeddings": func(lo, hi int64) error { _, err := s.ReadEmbeddingsRange(lo, hi, nil); return err },
		"ids":        func(lo, hi int64) error { _, err := s.ReadIDsRange(lo, hi); return err },
		"labels":     func(lo, hi int64) error { _, err := s.ReadLabelsRange(lo, hi); return err },
	}
	for name, read := range reads {
		for _, r := range [][2]int64{{-1, 2}, {3, 2}, {0, fixtureRows + 1}} {
			err := read(r[0], r[1])
			var ie *InputError
			if err == nil || errors.As(err, &ie) {
				t.Errorf("%s [%d, %d): %v, want an error that is not an InputError", name, r[0], r[1], err)
			}
		}
	}
}

// TestConcurrentRanges reads ranges of one Shard at once (run with -race).
func TestConcurrentRanges(t *testing.T) {
	l := layout{rows: 600, dim: 16, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 1024, rowGroupRows: 200}
	data := writeShard(t, l, nil)
	s := openGen(t, data)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			lo := int64(g * 70)
			hi := lo + 90
			got, err := s.ReadEmbeddingsRange(lo, hi, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if !reflect.DeepEqual(got, wantEmbeddings(lo, hi, l.dim)) {
				t.Errorf("rows [%d, %d) differ from what was written", lo, hi)
			}
			if _, err := s.ReadIDsRange(lo, hi); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// TestManyDecodersFewSegments reads with many decoders and segments much
// smaller than a chunk, so that the bound on segments in use (maxSegments)
// holds the scanner back: every read must still finish, right.
func TestManyDecodersFewSegments(t *testing.T) {
	saved := segmentSize
	segmentSize = 4096
	defer func() { segmentSize = saved }()
	l := layout{rows: 2000, dim: 16, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 1024, rowGroupRows: 700}
	data := writeShard(t, l, nil)
	bothIndexPaths(t, func(t *testing.T) {
		s := openGen(t, data)
		s.Parallelism = 16
		for _, r := range [][2]int64{{0, 2000}, {650, 1500}, {1999, 2000}} {
			got, err := s.ReadEmbeddingsRange(r[0], r[1], nil)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, wantEmbeddings(r[0], r[1], l.dim)) {
				t.Fatalf("rows [%d, %d) differ from what was written", r[0], r[1])
			}
		}
	})
}

// TestCorruptBytesInRanges damages every byte of a shard's row groups and
// page index, one at a time, and reads a range: the read must succeed or fail
// with an InputError, never panic or report a failing reader.
func TestCorruptBytesInRanges(t *testing.T) {
	l := layout{rows: 60, dim: 4, elem: Float32, codec: &parquet.Zstd, pageV: 1, pageBuffer: 128, rowGroupRows: 25}
	good := writeShard(t, l, nil)
	footer := int64(binary.LittleEndian.Uint32(good[len(good)-8:]))
	bothIndexPaths(t, func(t *testing.T) {
		for off := 4; off < len(good)-8-int(footer); off++ {
			for _, b := range []byte{0x00, 0xff} {
				if good[off] == b {
					continue
				}
				bad := bytes.Clone(good)
				bad[off] = b
				s, err := OpenShard(bytes.NewReader(bad), int64(len(bad)), "x.parquet", Columns{})
				if err == nil {
					_, err = s.ReadEmbeddingsRange(27, 40, nil)
				}
				if err == nil {
					_, err = s.ReadIDsRange(27, 40)
				}
				var ie *InputError
				if err != nil && (!errors.As(err, &ie) || ie.Object != "x.parquet") {
					t.Fatalf("byte %d set to %#x: %v (%T), want an InputError", off, b, err, err)
				}
			}
		}
	})
}

// TestRangeReaderErrors checks that a reader failing after the footer is
// reported as itself, not as bad input, by every range reader.
func TestRangeReaderErrors(t *testing.T) {
	l := layout{rows: 60, dim: 4, elem: Float32, codec: &parquet.Zstd, pageV: 2, pageBuffer: 128, rowGroupRows: 25}
	good := writeShard(t, l, nil)
	bothIndexPaths(t, func(t *testing.T) {
		fr := &failingReader{good, int64(len(good)), errNetwork}
		s, err := OpenShard(fr, int64(len(good)), "x.parquet", Columns{})
		if err != nil {
			t.Fatal(err)
		}
		fr.failAt = 4
		reads := map[string]func() error{
			"embeddings": func() error { _, err := s.ReadEmbeddingsRange(27, 40, nil); return err },
			"ids":        func() error { _, err := s.ReadIDsRange(27, 40); return err },
		}
		for name, read := range reads {
			err := read()
			var ie *InputError
			if !errors.Is(err, errNetwork) || errors.As(err, &ie) {
				t.Errorf("%s: %v, want the reader's error and no InputError", name, err)
			}
		}
	})
}
