package dataset

// The grouped output parts of docs/design.md, "Output parts". Ids keep their
// input type. WriteNTuples writes them when queries and corpus have one id
// type; a job whose query ids and corpus ids differ in type is written with
// MixedNTuple rows, which have the same columns with a query id type Q and a
// corpus id type C. The two paths keep their own writer settings: changing
// either would change the bytes of parts already written
// (TestPartBytesPinned).

import (
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// MixedNTuple is one row of an n-tuple part whose query ids (Q) and corpus
// ids (C) may differ in type. It is an alias: parquet-go names a file's
// schema after the Go type, and the parts written before the move to dataset
// named it ntupleRow; a new name would change their bytes.
type MixedNTuple[Q, C string | int64] = ntupleRow[Q, C]

// ntupleRow is MixedNTuple's type.
type ntupleRow[Q, C string | int64] struct {
	QueryID        Q         `parquet:"query_id"`
	PositiveIDs    []C       `parquet:"positive_ids,list"`
	PositiveScores []float32 `parquet:"positive_scores,list"`
	NegativeIDs    []C       `parquet:"negative_ids,list"`
	NegativeScores []float32 `parquet:"negative_scores,list"`
	NegativeKinds  []string  `parquet:"negative_kinds,list"`
	NegativeRanks  []int32   `parquet:"negative_ranks,list"`
}

// PartRow is one query's output before its ids are typed: ids as text (an
// int64 id in decimal), negatives as the grouped format's columns.
type PartRow struct {
	QueryID        string
	PositiveIDs    []string
	PositiveScores []float32
	NegativeIDs    []string
	NegativeScores []float32
	NegativeKinds  []string // HardNegative or EasyNegative
	NegativeRanks  []int32

	// The texts, for WriteGroupedTexts: the query's and one per id.
	QueryText     string
	PositiveTexts []string
	NegativeTexts []string
}

// groupedTextRow is a grouped row with the texts of a job with a text column:
// the grouped columns, then query_text, positive_texts and negative_texts.
type groupedTextRow[Q, C string | int64] struct {
	ntupleRow[Q, C]
	QueryText     string   `parquet:"query_text"`
	PositiveTexts []string `parquet:"positive_texts,list"`
	NegativeTexts []string `parquet:"negative_texts,list"`
}

// WriteGroupedTexts writes a grouped part (WritePart's "grouped" layout)
// with three more columns, the texts: query_text, positive_texts and
// negative_texts, aligned with the id lists.
func WriteGroupedTexts(w io.Writer, rows []PartRow, queryKind, corpusKind Kind) error {
	switch qs, cs := queryKind == String, corpusKind == String; {
	case qs && cs:
		return writeGroupedTexts[string, string](w, rows)
	case qs && !cs:
		return writeGroupedTexts[string, int64](w, rows)
	case !qs && cs:
		return writeGroupedTexts[int64, string](w, rows)
	default:
		return writeGroupedTexts[int64, int64](w, rows)
	}
}

func writeGroupedTexts[Q, C string | int64](w io.Writer, rows []PartRow) error {
	typed, err := ntupleRows[Q, C](rows)
	if err != nil {
		return err
	}
	out := make([]groupedTextRow[Q, C], len(rows))
	for i, r := range rows {
		out[i] = groupedTextRow[Q, C]{ntupleRow: typed[i], QueryText: r.QueryText,
			PositiveTexts: nonNilStrings(r.PositiveTexts), NegativeTexts: nonNilStrings(r.NegativeTexts)}
	}
	return writeAll(parquet.NewGenericWriter[groupedTextRow[Q, C]](w,
		parquet.Compression(&zstd.Codec{Level: zstd.DefaultLevel}), parquet.CreatedBy("hardneg", "part", "1")), out)
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WritePart writes the rows of one grouped part, one row per query, with
// query ids of queryKind and corpus ids of corpusKind (String or Int64).
func WritePart(w io.Writer, rows []PartRow, queryKind, corpusKind Kind) error {
	switch qs, cs := queryKind == String, corpusKind == String; {
	case qs && cs:
		return writeSameKind[string](w, rows)
	case !qs && !cs:
		return writeSameKind[int64](w, rows)
	case qs:
		return writeTyped[string, int64](w, rows)
	default:
		return writeTyped[int64, string](w, rows)
	}
}

// writeTyped writes a part with MixedNTuple rows.
func writeTyped[Q, C string | int64](w io.Writer, rows []PartRow) error {
	out, err := ntupleRows[Q, C](rows)
	if err != nil {
		return err
	}
	return writeAll(parquet.NewGenericWriter[MixedNTuple[Q, C]](w,
		parquet.Compression(&zstd.Codec{Level: zstd.DefaultLevel}), parquet.CreatedBy("hardneg", "part", "1")), out)
}

// writeSameKind writes a part with WriteNTuples.
func writeSameKind[T ID](w io.Writer, rows []PartRow) error {
	typed, err := ntupleRows[T, T](rows)
	if err != nil {
		return err
	}
	out := make([]NTuple[T], len(typed))
	for i, r := range typed {
		out[i] = NTuple[T](r)
	}
	return WriteNTuples(w, out)
}

// ntupleRows types the ids of a part's rows: query ids Q, corpus ids C. The
// first id that is not of its type is the error.
func ntupleRows[Q, C string | int64](rows []PartRow) ([]ntupleRow[Q, C], error) {
	var err error
	cl := func(ss []string) []C {
		out := make([]C, len(ss))
		for i, s := range ss {
			out[i] = parseID[C](s, &err)
		}
		return out
	}
	out := make([]ntupleRow[Q, C], len(rows))
	for i, r := range rows {
		o := &out[i]
		o.QueryID, o.PositiveIDs, o.PositiveScores = parseID[Q](r.QueryID, &err), cl(r.PositiveIDs), nonNil(r.PositiveScores)
		o.NegativeIDs = cl(r.NegativeIDs)
		o.NegativeScores, o.NegativeKinds, o.NegativeRanks = r.NegativeScores, r.NegativeKinds, r.NegativeRanks
	}
	return out, err
}

func writeAll[T any](pw *parquet.GenericWriter[T], rows []T) error {
	if _, err := pw.Write(rows); err != nil {
		return err
	}
	return pw.Close()
}

func nonNil(s []float32) []float32 {
	if s == nil {
		return []float32{}
	}
	return s
}

// parseID converts an id from its checkpoint text back to its type; the first
// failure is kept in *err.
func parseID[T string | int64](s string, err *error) T {
	var v T
	switch p := any(&v).(type) {
	case *string:
		*p = s
	case *int64:
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil && *err == nil {
			*err = fmt.Errorf("id %q is not an int64: %w", s, e)
		}
		*p = n
	}
	return v
}
