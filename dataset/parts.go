package dataset

// The output parts, in the two formats of docs/design.md. Ids keep their
// input type. WriteNTuples and WriteTriplets write them when they can: their
// rows have one id type for queries and corpus, and a triplet always has a
// positive. A job whose query ids and corpus ids differ in type, or a triplet
// part of queries without positives (self and labeled mode), is written with
// MixedNTuple and MixedTriplet rows, which have the same columns with a query
// id type Q, a corpus id type C and an optional positive_id. The two paths
// keep their own writer settings: changing either would change the bytes of
// parts already written.
//
// TODO(dataset): drop the mixed rows once NTuple and Triplet cover both cases.

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

// MixedTriplet is one (query, positive, negative) of a triplet part whose
// query ids (Q) and corpus ids (C) may differ in type. It is an alias for the
// reason MixedNTuple is.
type MixedTriplet[Q, C string | int64] = tripletRow[Q, C]

// tripletRow is MixedTriplet's type. The positive is null when the query has
// none (self mode, labeled mode, or no positive in the corpus).
type tripletRow[Q, C string | int64] struct {
	QueryID       Q       `parquet:"query_id"`
	PositiveID    *C      `parquet:"positive_id,optional"`
	NegativeID    C       `parquet:"negative_id"`
	NegativeScore float32 `parquet:"negative_score"`
	Kind          string  `parquet:"kind"`
}

// PartRow is one query's output before its ids are typed: ids as text (an
// int64 id in decimal), negatives as the n-tuple's columns.
type PartRow struct {
	QueryID        string
	PositiveIDs    []string
	PositiveScores []float32
	NegativeIDs    []string
	NegativeScores []float32
	NegativeKinds  []string // HardNegative or EasyNegative
	NegativeRanks  []int32
}

// PartRows returns how many rows rows make in a part of format: one per
// query in an n-tuple part, one per (positive or none, negative) in a
// triplet part.
func PartRows(rows []PartRow, format string) int64 {
	if format != "triplet" {
		return int64(len(rows))
	}
	var n int64
	for _, r := range rows {
		n += int64(max(1, len(r.PositiveIDs)) * len(r.NegativeIDs))
	}
	return n
}

// WritePart writes the rows of one part in format ("n-tuple" or "triplet"),
// with query ids of queryKind and corpus ids of corpusKind ("string" or
// "int64").
func WritePart(w io.Writer, rows []PartRow, format, queryKind, corpusKind string) error {
	qs, cs := queryKind == "string", corpusKind == "string"
	if qs == cs && (format != "triplet" || allPositive(rows)) {
		if cs {
			return writeSameKind[string](w, rows, format)
		}
		return writeSameKind[int64](w, rows, format)
	}
	switch {
	case qs && cs:
		return writeTyped[string, string](w, rows, format)
	case qs && !cs:
		return writeTyped[string, int64](w, rows, format)
	case !qs && cs:
		return writeTyped[int64, string](w, rows, format)
	default:
		return writeTyped[int64, int64](w, rows, format)
	}
}

// writeTyped writes a part with MixedNTuple or MixedTriplet rows.
func writeTyped[Q, C string | int64](w io.Writer, rows []PartRow, format string) error {
	var err error
	q := func(s string) Q { return parseID[Q](s, &err) }
	c := func(s string) C { return parseID[C](s, &err) }
	cl := func(ss []string) []C {
		out := make([]C, len(ss))
		for i, s := range ss {
			out[i] = c(s)
		}
		return out
	}
	opts := []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.DefaultLevel}),
		parquet.CreatedBy("hardneg", "part", "1"),
	}
	if format == "triplet" {
		var out []MixedTriplet[Q, C]
		for _, r := range rows {
			positives := []*C{nil}
			if len(r.PositiveIDs) > 0 {
				positives = positives[:0]
				for _, id := range r.PositiveIDs {
					v := c(id)
					positives = append(positives, &v)
				}
			}
			for _, pos := range positives {
				for i, neg := range r.NegativeIDs {
					out = append(out, MixedTriplet[Q, C]{
						QueryID: q(r.QueryID), PositiveID: pos, NegativeID: c(neg),
						NegativeScore: r.NegativeScores[i], Kind: r.NegativeKinds[i],
					})
				}
			}
		}
		if err != nil {
			return err
		}
		return writeAll(parquet.NewGenericWriter[MixedTriplet[Q, C]](w, opts...), out)
	}
	out := make([]MixedNTuple[Q, C], len(rows))
	for i, r := range rows {
		o := &out[i]
		o.QueryID, o.PositiveIDs, o.PositiveScores = q(r.QueryID), cl(r.PositiveIDs), nonNil(r.PositiveScores)
		o.NegativeIDs = cl(r.NegativeIDs)
		o.NegativeScores, o.NegativeKinds, o.NegativeRanks = r.NegativeScores, r.NegativeKinds, r.NegativeRanks
	}
	if err != nil {
		return err
	}
	return writeAll(parquet.NewGenericWriter[MixedNTuple[Q, C]](w, opts...), out)
}

func allPositive(rows []PartRow) bool {
	for _, r := range rows {
		if len(r.PositiveIDs) == 0 && len(r.NegativeIDs) > 0 {
			return false
		}
	}
	return true
}

// writeSameKind writes a part with WriteNTuples or WriteTriplets.
func writeSameKind[T ID](w io.Writer, rows []PartRow, format string) error {
	var err error
	id := func(s string) T { return parseID[T](s, &err) }
	ids := func(ss []string) []T {
		out := make([]T, len(ss))
		for i, s := range ss {
			out[i] = id(s)
		}
		return out
	}
	if format == "triplet" {
		var out []Triplet[T]
		for _, r := range rows {
			for _, pos := range r.PositiveIDs {
				for i, neg := range r.NegativeIDs {
					out = append(out, Triplet[T]{
						QueryID: id(r.QueryID), PositiveID: id(pos), NegativeID: id(neg),
						NegativeScore: r.NegativeScores[i], Kind: r.NegativeKinds[i],
					})
				}
			}
		}
		if err != nil {
			return err
		}
		return WriteTriplets(w, out)
	}
	out := make([]NTuple[T], len(rows))
	for i, r := range rows {
		o := &out[i]
		o.QueryID, o.PositiveIDs, o.PositiveScores = id(r.QueryID), ids(r.PositiveIDs), nonNil(r.PositiveScores)
		o.NegativeIDs = ids(r.NegativeIDs)
		o.NegativeScores, o.NegativeKinds, o.NegativeRanks = r.NegativeScores, r.NegativeKinds, r.NegativeRanks
	}
	if err != nil {
		return err
	}
	return WriteNTuples(w, out)
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
