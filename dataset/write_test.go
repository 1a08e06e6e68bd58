package dataset

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

// ntuples returns n rows of an n-tuple part; id makes an id of type T.
func ntuples[T ID](n, negatives int, id func(int) T, rng *rand.Rand) []NTuple[T] {
	rows := make([]NTuple[T], n)
	for i := range rows {
		r := NTuple[T]{QueryID: id(i)}
		for k := range 1 + rng.IntN(2) {
			r.PositiveIDs = append(r.PositiveIDs, id(n+2*i+k))
			r.PositiveScores = append(r.PositiveScores, rng.Float32())
		}
		for k := range negatives {
			kind := HardNegative
			if k >= negatives-negatives/4 {
				kind = EasyNegative
			}
			r.NegativeIDs = append(r.NegativeIDs, id(rng.IntN(10*n)))
			r.NegativeScores = append(r.NegativeScores, rng.Float32())
			r.NegativeKinds = append(r.NegativeKinds, kind)
			r.NegativeRanks = append(r.NegativeRanks, int32(k))
		}
		rows[i] = r
	}
	return rows
}

func stringID(i int) string { return fmt.Sprintf("doc-%d", i) }
func int64ID(i int) int64   { return int64(i) * 7 }

// normalize makes every empty slice nil, since Parquet keeps no difference.
func normalize(v any) any {
	rv := reflect.ValueOf(v)
	out := reflect.MakeSlice(rv.Type(), rv.Len(), rv.Len())
	reflect.Copy(out, rv)
	for i := range out.Len() {
		row := out.Index(i)
		for j := range row.NumField() {
			if f := row.Field(j); f.Kind() == reflect.Slice && f.Len() == 0 {
				f.Set(reflect.Zero(f.Type()))
			}
		}
	}
	return out.Interface()
}

// roundTrip writes rows twice with write, checks that the bytes are the same,
// reads them back with read and checks that they equal rows.
func roundTrip[R any](t *testing.T, rows []R, write func(io.Writer, []R) error, read func(*bytes.Reader, int64) ([]R, error)) {
	t.Helper()
	var a, b bytes.Buffer
	if err := write(&a, rows); err != nil {
		t.Fatal(err)
	}
	if err := write(&b, rows); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same rows gave different bytes")
	}
	got, err := read(bytes.NewReader(a.Bytes()), int64(a.Len()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(rows)) {
		t.Errorf("read back %d rows that differ from the %d written", len(got), len(rows))
	}
}

func TestNTupleRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	t.Run("string", func(t *testing.T) {
		roundTrip(t, ntuples(300, 8, stringID, rng), WriteNTuples[string],
			func(r *bytes.Reader, size int64) ([]NTuple[string], error) {
				return ReadNTuples[string](r, size, "n.parquet")
			})
	})
	t.Run("int64", func(t *testing.T) {
		roundTrip(t, ntuples(300, 8, int64ID, rng), WriteNTuples[int64],
			func(r *bytes.Reader, size int64) ([]NTuple[int64], error) {
				return ReadNTuples[int64](r, size, "n.parquet")
			})
	})
}

// TestReadResultsErrors checks that reading a results file of the wrong kind
// or id type is an InputError naming the column.
func TestReadResultsErrors(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNTuples(&buf, ntuples(3, 2, stringID, rand.New(rand.NewPCG(4, 5)))); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	t.Run("id type", func(t *testing.T) {
		_, err := ReadNTuples[int64](bytes.NewReader(data), int64(len(data)), "n.parquet")
		checkInputError(t, err, "n.parquet", "query_id", -1, "wrong type")
	})
	t.Run("other file", func(t *testing.T) {
		var tb bytes.Buffer
		if _, err := WriteTraining(&tb, trainingInput, TrainingLayout{Format: FormatTriplet, AnchorKind: String, DocKind: String}); err != nil {
			t.Fatal(err)
		}
		_, err := ReadNTuples[string](bytes.NewReader(tb.Bytes()), int64(tb.Len()), "t.parquet")
		checkInputError(t, err, "t.parquet", "query_id", -1, "missing column")
	})
	t.Run("not parquet", func(t *testing.T) {
		_, err := ReadNTuples[string](bytes.NewReader(data[:100]), 100, "n.parquet")
		checkInputError(t, err, "n.parquet", "", -1, "not a Parquet file")
	})
}

// TestResultsReadAsShard checks that an n-tuple part is plain Parquet that
// this package's own strict reader accepts (lists of ids, string ids).
func TestResultsReadAsShard(t *testing.T) {
	rows := ntuples(50, 4, stringID, rand.New(rand.NewPCG(6, 7)))
	var buf bytes.Buffer
	if err := WriteNTuples(&buf, rows); err != nil {
		t.Fatal(err)
	}
	s, err := OpenShard(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "n.parquet",
		Columns{ID: "query_id", Embedding: "negative_scores", Positives: "positive_ids"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := s.ReadIDs()
	if err != nil {
		t.Fatal(err)
	}
	pos, err := s.ReadPositives()
	if err != nil {
		t.Fatal(err)
	}
	scores, err := s.ReadEmbeddings(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if ids.Strings()[i] != r.QueryID || !reflect.DeepEqual(pos.Row(i).Strings(), r.PositiveIDs) ||
			!reflect.DeepEqual(scores[4*i:4*i+4], r.NegativeScores) {
			t.Fatalf("row %d differs", i)
		}
	}
}
