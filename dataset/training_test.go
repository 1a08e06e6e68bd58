package dataset

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// trainingInput is four queries: two positives and a full set of
// negatives; one positive and too few; one positive and none; negatives
// and no positive (none was found in the corpus).
var trainingInput = []TrainingRow{
	{Anchor: "q0", Positives: []string{"10", "11"}, PositiveScores: []float32{0.9, 0.8},
		Negatives: []string{"20", "21", "22"}, NegativeScores: []float32{0.7, 0.6, 0.5}},
	{Anchor: "q1", Positives: []string{"12"}, PositiveScores: []float32{0.75},
		Negatives: []string{"23"}, NegativeScores: []float32{0.25}},
	{Anchor: "q2", Positives: []string{"13"}, PositiveScores: []float32{0.5}},
	{Anchor: "q3", Negatives: []string{"24"}, NegativeScores: []float32{0.5}}, // no positive in the corpus
}

// stReference lays rows out the way hard_negatives.py does: each query's
// negatives are a row of k slots padded with -inf, repeated once per
// positive, and each format keeps the slots (or rows) that are not -inf.
func stReference(rows []TrainingRow, format string, scores bool, k int) [][]any {
	inf := math.Inf(-1)
	var out [][]any
	for _, r := range rows {
		if len(r.Positives) == 0 {
			continue // their queries come from (anchor, positive) pairs
		}
		idx, sc := make([]string, k), make([]float64, k)
		for j := range k {
			sc[j] = inf
			if j < len(r.Negatives) {
				idx[j], sc[j] = r.Negatives[j], float64(r.NegativeScores[j])
			}
		}
		ps := func(p int) float64 { return float64(r.PositiveScores[p]) }
		switch format {
		case FormatTriplet:
			for p, pos := range r.Positives {
				for j := range k {
					if sc[j] == inf {
						continue
					}
					row := []any{r.Anchor, pos, idx[j]}
					if scores {
						row = append(row, []any{ps(p), sc[j]})
					}
					out = append(out, row)
				}
			}
		case FormatLabeledPair:
			for p, pos := range r.Positives {
				out = append(out, []any{r.Anchor, pos, pick(scores, ps(p), int64(1))})
			}
			for j := range k {
				if sc[j] != inf {
					out = append(out, []any{r.Anchor, idx[j], pick(scores, sc[j], int64(0))})
				}
			}
		case FormatNTuple:
			for p, pos := range r.Positives {
				if sc[k-1] == inf { // not all k found
					continue
				}
				row := []any{r.Anchor, pos}
				all := []any{ps(p)}
				for j := range k {
					row = append(row, idx[j])
					all = append(all, sc[j])
				}
				if scores {
					row = append(row, all)
				}
				out = append(out, row)
			}
		case FormatLabeledList:
			for p, pos := range r.Positives {
				docs, labels := []any{pos}, []any{pick(scores, ps(p), int64(1))}
				for j := range k {
					if sc[j] != inf {
						docs = append(docs, idx[j])
						labels = append(labels, pick(scores, sc[j], int64(0)))
					}
				}
				if len(docs) > 1 {
					out = append(out, []any{r.Anchor, docs, labels})
				}
			}
		}
	}
	return out
}

func pick(scores bool, score float64, label int64) any {
	if scores {
		return score
	}
	return label
}

// readBack reads a part with parquet-go's row API: column names in file
// order and each row's values, a list column as []any.
func readBack(t *testing.T, data []byte) (names []string, rows [][]any) {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	fields := f.Schema().Fields()
	for _, fl := range fields {
		names = append(names, fl.Name())
	}
	r := parquet.NewReader(f)
	buf := make([]parquet.Row, 16)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			vals := make([]any, len(fields))
			row.Range(func(col int, vs []parquet.Value) bool {
				if fields[col].Leaf() {
					vals[col] = goValue(vs[0])
					return true
				}
				list := []any{}
				for _, v := range vs {
					if !v.IsNull() {
						list = append(list, goValue(v))
					}
				}
				vals[col] = list
				return true
			})
			rows = append(rows, vals)
		}
		if err != nil {
			break
		}
	}
	return names, rows
}

func goValue(v parquet.Value) any {
	switch v.Kind() {
	case parquet.ByteArray:
		return string(v.ByteArray())
	case parquet.Int64:
		return v.Int64()
	case parquet.Double:
		return v.Double()
	}
	return v.String()
}

// TestTrainingFormats checks every format, with and without scores, against
// the rows hard_negatives.py would build, column names and order included.
func TestTrainingFormats(t *testing.T) {
	const k = 3
	tests := []struct {
		format  string
		scores  bool
		columns string
	}{
		{FormatTriplet, false, "anchor positive negative"},
		{FormatTriplet, true, "anchor positive negative scores"},
		{FormatNTuple, false, "anchor positive negative_1 negative_2 negative_3"},
		{FormatNTuple, true, "anchor positive negative_1 negative_2 negative_3 scores"},
		{FormatLabeledPair, false, "anchor positive label"},
		{FormatLabeledPair, true, "anchor positive score"},
		{FormatLabeledList, false, "anchor positive labels"},
		{FormatLabeledList, true, "anchor positive scores"},
	}
	for _, tt := range tests {
		name := tt.format
		if tt.scores {
			name += "+scores"
		}
		t.Run(name, func(t *testing.T) {
			l := TrainingLayout{Format: tt.format, Scores: tt.scores, Negatives: k, AnchorKind: String, DocKind: String}
			var buf bytes.Buffer
			n, err := WriteTraining(&buf, trainingInput, l)
			if err != nil {
				t.Fatal(err)
			}
			names, rows := readBack(t, buf.Bytes())
			if got := strings.Join(names, " "); got != tt.columns {
				t.Errorf("columns %q, want %q", got, tt.columns)
			}
			want := stReference(trainingInput, tt.format, tt.scores, k)
			if !reflect.DeepEqual(rows, want) {
				t.Errorf("rows\n%v\nwant\n%v", rows, want)
			}
			if n != int64(len(want)) {
				t.Errorf("WriteTraining says %d rows, want %d", n, len(want))
			}
		})
	}
}

// TestTrainingIDKinds checks that int64 ids standing in for texts keep their
// type, and that an id that is not an int64 is an error.
func TestTrainingIDKinds(t *testing.T) {
	rows := []TrainingRow{{Anchor: "7", Positives: []string{"10"}, PositiveScores: []float32{1},
		Negatives: []string{"20"}, NegativeScores: []float32{0.5}}}
	var buf bytes.Buffer
	l := TrainingLayout{Format: FormatTriplet, AnchorKind: Int64, DocKind: Int64}
	if _, err := WriteTraining(&buf, rows, l); err != nil {
		t.Fatal(err)
	}
	if _, got := readBack(t, buf.Bytes()); !reflect.DeepEqual(got, [][]any{{int64(7), int64(10), int64(20)}}) {
		t.Errorf("rows %v", got)
	}
	rows[0].Negatives[0] = "d20"
	if _, err := WriteTraining(&bytes.Buffer{}, rows, l); err == nil || !strings.Contains(err.Error(), `"d20"`) {
		t.Errorf("error %v, want one naming the id", err)
	}
}

// TestDuckDBReadsTraining checks that DuckDB reads each format with the types
// sentence-transformers' datasets have: texts VARCHAR, labels BIGINT,
// scores DOUBLE.
func TestDuckDBReadsTraining(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		format string
		scores bool
		types  map[string]string
	}{
		{FormatTriplet, true, map[string]string{"anchor": "VARCHAR", "positive": "VARCHAR", "negative": "VARCHAR", "scores": "DOUBLE[]"}},
		{FormatNTuple, false, map[string]string{"anchor": "VARCHAR", "positive": "VARCHAR", "negative_1": "VARCHAR", "negative_2": "VARCHAR", "negative_3": "VARCHAR"}},
		{FormatLabeledPair, false, map[string]string{"anchor": "VARCHAR", "positive": "VARCHAR", "label": "BIGINT"}},
		{FormatLabeledList, true, map[string]string{"anchor": "VARCHAR", "positive": "VARCHAR[]", "scores": "DOUBLE[]"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			l := TrainingLayout{Format: tt.format, Scores: tt.scores, Negatives: 3, AnchorKind: String, DocKind: String}
			if _, err := WriteTraining(&buf, trainingInput, l); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, tt.format+".parquet")
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			types, rows := duckDBRead(t, path)
			if !reflect.DeepEqual(types, tt.types) {
				t.Errorf("DuckDB types %v, want %v", types, tt.types)
			}
			if want := len(stReference(trainingInput, tt.format, tt.scores, 3)); len(rows) != want {
				t.Errorf("DuckDB reads %d rows, want %d", len(rows), want)
			}
		})
	}
}

// TestGroupedTexts checks the grouped layout with texts: the grouped
// columns, then the texts aligned with the ids.
func TestGroupedTexts(t *testing.T) {
	rows := []PartRow{{QueryID: "q0", PositiveIDs: []string{"10"}, PositiveScores: []float32{0.5},
		NegativeIDs: []string{"20", "21"}, NegativeScores: []float32{0.25, 0.125}, NegativeKinds: []string{HardNegative, EasyNegative},
		NegativeRanks: []int32{0, -1}, QueryText: "what", PositiveTexts: []string{"this"}, NegativeTexts: []string{"that", "other"}}}
	var buf bytes.Buffer
	if err := WriteGroupedTexts(&buf, rows, String, Int64); err != nil {
		t.Fatal(err)
	}
	names, got := readBack(t, buf.Bytes())
	wantNames := "query_id positive_ids positive_scores negative_ids negative_scores negative_kinds negative_ranks query_text positive_texts negative_texts"
	if strings.Join(names, " ") != wantNames {
		t.Errorf("columns %q, want %q", strings.Join(names, " "), wantNames)
	}
	want := []any{"q0", []any{int64(10)}, []any{"0.5"}, []any{int64(20), int64(21)}, []any{"0.25", "0.125"},
		[]any{HardNegative, EasyNegative}, []any{"0", "-1"}, "what", []any{"this"}, []any{"that", "other"}}
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("row %v, want %v", got, want)
	}
}
