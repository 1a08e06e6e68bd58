package dataset

// The training formats: sentence-transformers' four output formats of
// mine_hard_negatives (sentence_transformers/util/hard_negatives.py), row for
// row and column for column, so that a part loads as a training dataset as it
// is. Their trainer takes every column that is not a label or score as a model
// input, so these parts hold no other column: ids, kinds and ranks live in
// the grouped format (WritePart).

import (
	"fmt"
	"io"
	"reflect"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// The output formats of a job (the spec's output_format).
const (
	FormatTriplet     = "triplet"      // (anchor, positive, negative) per negative of each positive
	FormatNTuple      = "n-tuple"      // (anchor, positive, negative_1 … negative_n) per positive
	FormatLabeledPair = "labeled-pair" // (anchor, positive, label): positives 1, then negatives 0
	FormatLabeledList = "labeled-list" // (anchor, [positive, negatives…], [1, 0…]) per positive
	FormatGrouped     = "grouped"      // hardneg's own: one row per query with ids, scores, kinds, ranks
)

// TrainingRow is one query's output in a training format. A query without
// a positive gives no row in any of them: sentence-transformers' queries
// come from (anchor, positive) pairs. Anchor and the
// documents are texts, or ids written as text (an int64 id in decimal) when
// the job has no text column. Positives keep the input's order; negatives are
// the hard ones, best first, then the easy ones.
type TrainingRow struct {
	Anchor         string
	Positives      []string
	PositiveScores []float32
	Negatives      []string
	NegativeScores []float32
}

// TrainingLayout says how WriteTraining lays out its rows.
type TrainingLayout struct {
	Format string // FormatTriplet, FormatNTuple, FormatLabeledPair or FormatLabeledList
	// Scores replaces the labels by scores (labeled formats) or adds a scores
	// column (triplet: [positive, negative]; n-tuple: [positive, negatives…]),
	// as output_scores does.
	Scores bool
	// Negatives is the number of negative_i columns of an n-tuple part; a
	// (query, positive) with fewer negatives gives no row.
	Negatives int
	// AnchorKind and DocKind are the column types: String for texts, Int64
	// when int64 ids stand in for them.
	AnchorKind, DocKind Kind
}

// WriteTraining writes one part of rows in layout l and returns how many
// rows it holds. The part has the row group of every Parquet writer here:
// zstd, with page indexes.
func WriteTraining(w io.Writer, rows []TrainingRow, l TrainingLayout) (int64, error) {
	t, err := l.rowType()
	if err != nil {
		return 0, err
	}
	pw := parquet.NewWriter(w, parquet.SchemaOf(reflect.New(t).Interface()),
		parquet.Compression(&zstd.Codec{Level: zstd.DefaultLevel}),
		parquet.CreatedBy("hardneg", "part", "1"))
	var n int64
	put := func(vals ...any) error {
		v := reflect.New(t).Elem()
		for i, x := range vals {
			if err := setField(v.Field(i), x); err != nil {
				return err
			}
		}
		n++
		return pw.Write(v.Addr().Interface())
	}
	for i := range rows {
		if err := l.emit(&rows[i], put); err != nil {
			return n, fmt.Errorf("row of query %q: %w", rows[i].Anchor, err)
		}
	}
	return n, pw.Close()
}

// emit calls put with the column values of each output row of r, in column
// order, as hard_negatives.py builds its rows.
func (l TrainingLayout) emit(r *TrainingRow, put func(...any) error) error {
	widen := func(s []float32) []float64 {
		out := make([]float64, len(s))
		for i, x := range s {
			out[i] = float64(x)
		}
		return out
	}
	switch l.Format {
	case FormatTriplet:
		for p, pos := range r.Positives {
			for i, neg := range r.Negatives {
				vals := []any{text(r.Anchor), text(pos), text(neg)}
				if l.Scores {
					vals = append(vals, []float64{float64(r.PositiveScores[p]), float64(r.NegativeScores[i])})
				}
				if err := put(vals...); err != nil {
					return err
				}
			}
		}
	case FormatNTuple:
		if len(r.Negatives) < l.Negatives {
			return nil // short rows are dropped, as theirs are
		}
		for p, pos := range r.Positives {
			vals := []any{text(r.Anchor), text(pos)}
			for _, neg := range r.Negatives[:l.Negatives] {
				vals = append(vals, text(neg))
			}
			if l.Scores {
				vals = append(vals, append([]float64{float64(r.PositiveScores[p])}, widen(r.NegativeScores[:l.Negatives])...))
			}
			if err := put(vals...); err != nil {
				return err
			}
		}
	case FormatLabeledPair:
		if len(r.Positives) == 0 {
			return nil // a query of theirs always has a positive
		}
		for p, pos := range r.Positives {
			if err := put(text(r.Anchor), text(pos), l.label(1, r.PositiveScores[p])); err != nil {
				return err
			}
		}
		for i, neg := range r.Negatives {
			if err := put(text(r.Anchor), text(neg), l.label(0, r.NegativeScores[i])); err != nil {
				return err
			}
		}
	case FormatLabeledList:
		if len(r.Negatives) == 0 {
			return nil // a list without negatives is dropped, as theirs is
		}
		for p, pos := range r.Positives {
			docs := append([]text{text(pos)}, texts(r.Negatives)...)
			var labels any
			if l.Scores {
				labels = append([]float64{float64(r.PositiveScores[p])}, widen(r.NegativeScores)...)
			} else {
				ls := make([]int64, 1+len(r.Negatives))
				ls[0] = 1
				labels = ls
			}
			if err := put(text(r.Anchor), docs, labels); err != nil {
				return err
			}
		}
	}
	return nil
}

// label is a labeled-pair's last column: the label, or the score with Scores.
func (l TrainingLayout) label(label int64, score float32) any {
	if l.Scores {
		return float64(score)
	}
	return label
}

// text is a value of a text column, typed when the row is written.
type text string

func texts(ss []string) []text {
	out := make([]text, len(ss))
	for i, s := range ss {
		out[i] = text(s)
	}
	return out
}

// rowType builds the Go struct whose parquet-go schema is the layout's
// columns, in order. It is built at run time because an n-tuple part has
// one column per negative; parquet.Group would sort the columns by name.
func (l TrainingLayout) rowType() (reflect.Type, error) {
	kindType := func(k Kind) reflect.Type {
		if k == Int64 {
			return reflect.TypeFor[int64]()
		}
		return reflect.TypeFor[string]()
	}
	anchor, doc := kindType(l.AnchorKind), kindType(l.DocKind)
	f64s := reflect.TypeFor[[]float64]()
	fields := []reflect.StructField{field("Anchor", "anchor", anchor)}
	switch l.Format {
	case FormatTriplet:
		fields = append(fields, field("Positive", "positive", doc), field("Negative", "negative", doc))
		if l.Scores {
			fields = append(fields, field("Scores", "scores,list", f64s))
		}
	case FormatNTuple:
		if l.Negatives < 1 {
			return nil, fmt.Errorf("an n-tuple part needs 1 or more negative columns, got %d", l.Negatives)
		}
		fields = append(fields, field("Positive", "positive", doc))
		for i := 1; i <= l.Negatives; i++ {
			fields = append(fields, field("Negative"+strconv.Itoa(i), "negative_"+strconv.Itoa(i), doc))
		}
		if l.Scores {
			fields = append(fields, field("Scores", "scores,list", f64s))
		}
	case FormatLabeledPair:
		fields = append(fields, field("Positive", "positive", doc))
		if l.Scores {
			fields = append(fields, field("Score", "score", reflect.TypeFor[float64]()))
		} else {
			fields = append(fields, field("Label", "label", reflect.TypeFor[int64]()))
		}
	case FormatLabeledList:
		fields = append(fields, field("Positive", "positive,list", reflect.SliceOf(doc)))
		if l.Scores {
			fields = append(fields, field("Scores", "scores,list", f64s))
		} else {
			fields = append(fields, field("Labels", "labels,list", reflect.TypeFor[[]int64]()))
		}
	default:
		return nil, fmt.Errorf("unknown training format %q", l.Format)
	}
	return reflect.StructOf(fields), nil
}

func field(goName, tag string, t reflect.Type) reflect.StructField {
	return reflect.StructField{Name: goName, Type: t, Tag: reflect.StructTag(`parquet:"` + tag + `"`)}
}

// setField stores x in f, typing texts as f's kind.
func setField(f reflect.Value, x any) error {
	switch x := x.(type) {
	case text:
		return setText(f, string(x))
	case []text:
		s := reflect.MakeSlice(f.Type(), len(x), len(x))
		for i, t := range x {
			if err := setText(s.Index(i), string(t)); err != nil {
				return err
			}
		}
		f.Set(s)
	default:
		f.Set(reflect.ValueOf(x))
	}
	return nil
}

func setText(f reflect.Value, s string) error {
	if f.Kind() == reflect.String {
		f.SetString(s)
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("id %q is not an int64: %w", s, err)
	}
	f.SetInt(n)
	return nil
}
