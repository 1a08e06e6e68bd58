package dataset

import (
	"errors"
	"fmt"
	"io"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// The results are written with parquet-go's generic writer: their rows are
// Go structs, so the library's own encoders do the work, and the files are
// plain Parquet that pyarrow, DuckDB or Hugging Face datasets read as they are.
// Every file is zstd-compressed, with row groups of about rowGroupBytes, and
// the same rows always give the same bytes: nothing time- or host-dependent
// is written.

// ID is the type of ids in results: they keep the type of the input's ids.
type ID interface{ string | int64 }

// The values of the grouped format's negative_kinds column.
const (
	HardNegative = "hard" // mined: scored high against the query
	EasyNegative = "easy" // drawn at random from outside the candidate window
)

// NTuple is one row of a grouped output part (the grouped format was called
// n-tuple once; the Go name stays because parquet-go names a file's schema
// after it): a query, its positives and its negatives with their scores,
// kinds (HardNegative or EasyNegative) and ranks.
type NTuple[T ID] struct {
	QueryID        T         `parquet:"query_id"`
	PositiveIDs    []T       `parquet:"positive_ids,list"`
	PositiveScores []float32 `parquet:"positive_scores,list"`
	NegativeIDs    []T       `parquet:"negative_ids,list"`
	NegativeScores []float32 `parquet:"negative_scores,list"`
	NegativeKinds  []string  `parquet:"negative_kinds,list"`
	NegativeRanks  []int32   `parquet:"negative_ranks,list"` // the negative's rank among the query's candidates
}

// rowGroupBytes is the uncompressed size a row group aims at: large enough
// for fast scans, small enough that the writer (which holds a row group in
// memory) and readers stay modest.
const rowGroupBytes = 64 << 20

// WriteNTuples writes a grouped output part to w as Parquet.
func WriteNTuples[T ID](w io.Writer, rows []NTuple[T]) error {
	size := func(r *NTuple[T]) int {
		return 16 + 20*len(r.PositiveIDs) + 30*len(r.NegativeIDs)
	}
	return writeRows(w, rows, size)
}

// writeRows writes rows with a row group size chosen from the rows' average
// estimated size, so identical rows always give identical files.
func writeRows[R any](w io.Writer, rows []R, size func(*R) int) error {
	total := 0
	for i := range rows {
		total += size(&rows[i])
	}
	perGroup := int64(len(rows))
	if total > rowGroupBytes {
		perGroup = max(int64(len(rows))*rowGroupBytes/int64(total), 1)
	}
	pw := parquet.NewGenericWriter[R](w,
		parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(max(perGroup, 1)),
		parquet.CreatedBy("hardneg", "", ""),
	)
	if _, err := pw.Write(rows); err != nil {
		return fmt.Errorf("write rows: %w", err)
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write footer: %w", err)
	}
	return nil
}

// ReadNTuples reads a file written by WriteNTuples with ids of type T.
func ReadNTuples[T ID](r io.ReaderAt, size int64, name string) ([]NTuple[T], error) {
	return readRows[NTuple[T]](r, size, name)
}

// readRows reads every row of a results file. A file that is not Parquet or
// lacks the columns of R is an *InputError.
func readRows[R any](r io.ReaderAt, size int64, name string) (_ []R, err error) {
	defer recoverCorrupt(name, &err)
	cr := &countingReaderAt{r: r, size: size}
	f, err := openFile(cr, size, name)
	if err != nil {
		return nil, err
	}
	want := parquet.SchemaOf(new(R))
	for _, path := range want.Columns() {
		wl, _ := want.Lookup(path...)
		got, ok := f.Schema().Lookup(path...)
		if !ok {
			return nil, inputErrorf(name, path[0], -1, "missing column")
		}
		if gt, wt := got.Node.Type(), wl.Node.Type(); gt.Kind() != wt.Kind() {
			return nil, inputErrorf(name, path[0], -1, "wrong type: %s, want %s", gt, wt)
		}
	}
	pr := parquet.NewGenericReader[R](f)
	defer pr.Close()
	if err := checkDecoded(name, "", f.NumRows(), int64(unsafe.Sizeof(*new(R))), size); err != nil {
		return nil, err
	}
	rows := make([]R, f.NumRows())
	n, err := pr.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) || int64(n) != f.NumRows() {
		if ioErr := cr.failed(); ioErr != nil {
			return nil, fmt.Errorf("read %s: %w", name, ioErr)
		}
		return nil, inputErrorf(name, "", -1, "corrupt: read %d of %d rows: %v", n, f.NumRows(), err)
	}
	return rows, nil
}
