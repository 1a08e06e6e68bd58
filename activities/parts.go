package activities

// The output parts, in the two formats of DESIGN.md. Ids keep their input
// type. dataset writes them when it can: its NTuple and Triplet rows have one
// id type for queries and corpus, and a triplet always has a positive. A job
// whose query ids and corpus ids differ in type, or a triplet part of queries
// without positives (self and labeled mode), is written by the generic rows
// below, which have the same columns with a query id type Q, a corpus id
// type C and an optional positive_id.
//
// TODO(dataset): drop the generic rows once dataset's rows cover both cases.

import (
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/miner"
)

type ntupleRow[Q, C string | int64] struct {
	QueryID        Q         `parquet:"query_id"`
	PositiveIDs    []C       `parquet:"positive_ids,list"`
	PositiveScores []float32 `parquet:"positive_scores,list"`
	NegativeIDs    []C       `parquet:"negative_ids,list"`
	NegativeScores []float32 `parquet:"negative_scores,list"`
	NegativeKinds  []string  `parquet:"negative_kinds,list"`
	NegativeRanks  []int32   `parquet:"negative_ranks,list"`
}

// tripletRow is one (query, positive, negative). The positive is null when the
// query has none (self mode, labeled mode, or no positive in the corpus).
type tripletRow[Q, C string | int64] struct {
	QueryID       Q       `parquet:"query_id"`
	PositiveID    *C      `parquet:"positive_id,optional"`
	NegativeID    C       `parquet:"negative_id"`
	NegativeScore float32 `parquet:"negative_score"`
	Kind          string  `parquet:"kind"`
}

// partRow is one query's output before it is typed.
type partRow struct {
	QueryID        string
	PositiveIDs    []string
	PositiveScores []float32
	Negatives      []miner.Negative
	NegativeIDs    []string
}

// writePart writes the rows of one part in format ("n-tuple" or "triplet"),
// with query ids of queryKind and corpus ids of corpusKind ("string" or
// "int64").
func writePart(w io.Writer, rows []partRow, format, queryKind, corpusKind string) error {
	qs, cs := queryKind == "string", corpusKind == "string"
	if qs == cs && (format != "triplet" || allPositive(rows)) {
		if cs {
			return writeDataset[string](w, rows, format)
		}
		return writeDataset[int64](w, rows, format)
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

func writeTyped[Q, C string | int64](w io.Writer, rows []partRow, format string) error {
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
		var out []tripletRow[Q, C]
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
				for i, n := range r.Negatives {
					out = append(out, tripletRow[Q, C]{
						QueryID: q(r.QueryID), PositiveID: pos, NegativeID: c(r.NegativeIDs[i]),
						NegativeScore: n.Score, Kind: n.Kind.String(),
					})
				}
			}
		}
		if err != nil {
			return err
		}
		return writeAll(parquet.NewGenericWriter[tripletRow[Q, C]](w, opts...), out)
	}
	out := make([]ntupleRow[Q, C], len(rows))
	for i, r := range rows {
		o := &out[i]
		o.QueryID, o.PositiveIDs, o.PositiveScores = q(r.QueryID), cl(r.PositiveIDs), nonNil(r.PositiveScores)
		o.NegativeIDs = cl(r.NegativeIDs)
		o.NegativeScores, o.NegativeKinds, o.NegativeRanks = negativeColumns(r.Negatives)
	}
	if err != nil {
		return err
	}
	return writeAll(parquet.NewGenericWriter[ntupleRow[Q, C]](w, opts...), out)
}

func allPositive(rows []partRow) bool {
	for _, r := range rows {
		if len(r.PositiveIDs) == 0 && len(r.Negatives) > 0 {
			return false
		}
	}
	return true
}

// writeDataset writes a part with dataset's writers.
func writeDataset[T dataset.ID](w io.Writer, rows []partRow, format string) error {
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
		var out []dataset.Triplet[T]
		for _, r := range rows {
			for _, pos := range r.PositiveIDs {
				for i, n := range r.Negatives {
					out = append(out, dataset.Triplet[T]{
						QueryID: id(r.QueryID), PositiveID: id(pos), NegativeID: id(r.NegativeIDs[i]),
						NegativeScore: n.Score, Kind: n.Kind.String(),
					})
				}
			}
		}
		if err != nil {
			return err
		}
		return dataset.WriteTriplets(w, out)
	}
	out := make([]dataset.NTuple[T], len(rows))
	for i, r := range rows {
		o := &out[i]
		o.QueryID, o.PositiveIDs, o.PositiveScores = id(r.QueryID), ids(r.PositiveIDs), nonNil(r.PositiveScores)
		o.NegativeIDs = ids(r.NegativeIDs)
		o.NegativeScores, o.NegativeKinds, o.NegativeRanks = negativeColumns(r.Negatives)
	}
	if err != nil {
		return err
	}
	return dataset.WriteNTuples(w, out)
}

// negativeColumns splits a row's negatives into the n-tuple's score, kind
// and rank columns.
func negativeColumns(negs []miner.Negative) (scores []float32, kinds []string, ranks []int32) {
	scores, kinds, ranks = make([]float32, len(negs)), make([]string, len(negs)), make([]int32, len(negs))
	for j, n := range negs {
		scores[j], kinds[j], ranks[j] = n.Score, n.Kind.String(), n.Rank
	}
	return scores, kinds, ranks
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
