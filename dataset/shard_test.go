package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The fixtures in testdata were written by DuckDB (testdata/gen/gen.mjs).
// Row i has id "doc-<i>" or 1000+i, embedding element j = i + j/4 and label
// i%3 ("L<i%3>" as a string); see gen.mjs.
const (
	fixtureRows = 6
	fixtureDim  = 4
)

func openFixture(t *testing.T, name string, cols Columns) (*Shard, error) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return OpenShard(f, st.Size(), name, cols)
}

// fixtureEmbeddings returns the embeddings every good fixture holds.
func fixtureEmbeddings() []float32 {
	var v []float32
	for i := range fixtureRows {
		for j := range fixtureDim {
			v = append(v, float32(i)+float32(j)/4)
		}
	}
	return v
}

func stringIDs(prefix string) IDs {
	var s []string
	for i := range fixtureRows {
		s = append(s, fmt.Sprintf("%s%d", prefix, i))
	}
	return StringIDs(s)
}

func intIDs(base int64) IDs {
	var v []int64
	for i := range int64(fixtureRows) {
		v = append(v, base+i)
	}
	return Int64IDs(v)
}

// bothPaths runs f with pages read into memory whole and, again, with every
// page streamed from the file (as pages larger than a segment are).
func bothPaths(t *testing.T, f func(t *testing.T)) {
	t.Run("in-memory", f)
	t.Run("streamed", func(t *testing.T) {
		saved := segmentSize
		segmentSize = 64
		defer func() { segmentSize = saved }()
		f(t)
	})
}

func TestReadDuckDBFixtures(t *testing.T) { bothPaths(t, testReadDuckDBFixtures) }

func testReadDuckDBFixtures(t *testing.T) {
	stringLabels := StringIDs([]string{"L0", "L1", "L2", "L0", "L1", "L2"})
	intLabels := Int64IDs([]int64{0, 1, 2, 0, 1, 2})
	tests := []struct {
		file     string
		cols     Columns
		elemType ElementType
		ids      IDs
		labels   *IDs
	}{
		{file: "float_varchar.parquet", elemType: Float32, ids: stringIDs("doc-"), labels: &stringLabels},
		{file: "float_bigint.parquet", elemType: Float32, ids: intIDs(1000), labels: &intLabels},
		{file: "fixed_float.parquet", elemType: Float32, ids: stringIDs("doc-")},
		{file: "double_bigint.parquet", elemType: Float64, ids: intIDs(1000)},
		{file: "queries_positives.parquet", elemType: Float32, ids: stringIDs("q-")},
		{file: "custom_names.parquet", cols: Columns{ID: "doc_key", Embedding: "vec"}, elemType: Float32, ids: stringIDs("doc-")},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := openFixture(t, tt.file, tt.cols)
			if err != nil {
				t.Fatal(err)
			}
			if s.Rows() != fixtureRows || s.Dim() != fixtureDim || s.ElementType() != tt.elemType || s.IDKind() != tt.ids.Kind() {
				t.Errorf("rows %d dim %d type %v ids %v, want %d %d %v %v",
					s.Rows(), s.Dim(), s.ElementType(), s.IDKind(), fixtureRows, fixtureDim, tt.elemType, tt.ids.Kind())
			}
			ids, err := s.ReadIDs()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids, tt.ids) {
				t.Errorf("ids %v, want %v", ids, tt.ids)
			}
			emb, err := s.ReadEmbeddings(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := fixtureEmbeddings(); !reflect.DeepEqual(emb, want) {
				t.Errorf("embeddings %v, want %v", emb, want)
			}
			if s.HasLabels() != (tt.labels != nil) {
				t.Fatalf("HasLabels %v, want %v", s.HasLabels(), tt.labels != nil)
			}
			if tt.labels != nil {
				labels, err := s.ReadLabels()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(labels, *tt.labels) || s.LabelKind() != tt.labels.Kind() {
					t.Errorf("labels %v (%v), want %v", labels, s.LabelKind(), *tt.labels)
				}
			}
		})
	}
}

func TestReadPositives(t *testing.T) {
	tests := []struct {
		file string
		want func(i int) IDs
	}{
		{"queries_positives.parquet", func(i int) IDs {
			return StringIDs([]string{fmt.Sprintf("doc-%d", i+1), fmt.Sprintf("doc-%d", i+2)})
		}},
		{"queries_positives_bigint.parquet", func(i int) IDs {
			return Int64IDs([]int64{1000 + int64(i) + 1, 1000 + int64(i) + 2})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			s, err := openFixture(t, tt.file, Columns{})
			if err != nil {
				t.Fatal(err)
			}
			if !s.HasPositives() {
				t.Fatal("HasPositives false")
			}
			pos, err := s.ReadPositives()
			if err != nil {
				t.Fatal(err)
			}
			if pos.Len() != fixtureRows {
				t.Fatalf("%d rows, want %d", pos.Len(), fixtureRows)
			}
			for i := range fixtureRows - 1 {
				if got, want := pos.Row(i), tt.want(i); !reflect.DeepEqual(got, want) {
					t.Errorf("row %d: %v, want %v", i, got, want)
				}
			}
			if last := pos.Row(fixtureRows - 1); last.Len() != 0 {
				t.Errorf("last row: %v, want none", last)
			}
			if s.PositivesKind() != pos.IDs.Kind() {
				t.Errorf("PositivesKind %v, read %v", s.PositivesKind(), pos.IDs.Kind())
			}
		})
	}
}

func TestNoOptionalColumns(t *testing.T) {
	s, err := openFixture(t, "fixed_float.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	if s.HasPositives() || s.HasLabels() {
		t.Errorf("HasPositives %v HasLabels %v, want false", s.HasPositives(), s.HasLabels())
	}
	var ie *InputError
	if _, err := s.ReadPositives(); !errors.As(err, &ie) {
		t.Errorf("ReadPositives: %v, want an InputError", err)
	}
	if _, err := s.ReadLabels(); !errors.As(err, &ie) {
		t.Errorf("ReadLabels: %v, want an InputError", err)
	}
}

// readShard reads every column it has, returning the first error.
func readShard(s *Shard) error {
	if _, err := s.ReadIDs(); err != nil {
		return err
	}
	if _, err := s.ReadEmbeddings(nil); err != nil {
		return err
	}
	if s.HasPositives() {
		if _, err := s.ReadPositives(); err != nil {
			return err
		}
	}
	if s.HasLabels() {
		if _, err := s.ReadLabels(); err != nil {
			return err
		}
	}
	return nil
}

func TestBadDuckDBFixtures(t *testing.T) { bothPaths(t, testBadDuckDBFixtures) }

func testBadDuckDBFixtures(t *testing.T) {
	tests := []struct {
		file   string
		cols   Columns
		atOpen bool   // the error comes from OpenShard, not from reading
		column string // the column the error names
		row    int64
		reason string // a part of the reason
	}{
		{file: "bad_null_embedding.parquet", column: "embedding", row: 3, reason: "null embedding"},
		{file: "bad_null_element.parquet", column: "embedding", row: 3, reason: "element 1 is null"},
		{file: "bad_nan.parquet", column: "embedding", row: 4, reason: "element 1 is NaN"},
		{file: "bad_inf.parquet", column: "embedding", row: 2, reason: "element 2 is +Inf"},
		{file: "bad_dimension.parquet", column: "embedding", row: 5, reason: "dimension 3, want 4"},
		{file: "bad_empty_list.parquet", column: "embedding", row: 6, reason: "empty embedding"},
		{file: "bad_duplicate_ids.parquet", column: "id", row: 5, reason: `duplicate id "doc-0" (also row 0)`},
		{file: "bad_null_id.parquet", column: "id", row: 1, reason: "null"},
		{file: "bad_empty.parquet", atOpen: true, row: -1, reason: "empty shard"},
		{file: "bad_embedding_type.parquet", atOpen: true, column: "embedding", row: -1, reason: "wrong type"},
		{file: "bad_embedding_scalar.parquet", atOpen: true, column: "embedding", row: -1, reason: "want a list"},
		{file: "bad_id_type.parquet", atOpen: true, column: "id", row: -1, reason: "wrong type"},
		{file: "bad_no_embedding.parquet", atOpen: true, column: "embedding", row: -1, reason: "missing column"},
		{file: "bad_positives_type.parquet", atOpen: true, column: "positive_ids", row: -1, reason: "want a list"},
		{file: "float_varchar.parquet", cols: Columns{ID: "key"}, atOpen: true, column: "key", row: -1, reason: `missing column (the file has ["id" "embedding" "label"])`},
		{file: "float_varchar.parquet", cols: Columns{Label: "embedding"}, atOpen: true, column: "embedding", row: -1, reason: "wrong type: a list"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.column, func(t *testing.T) {
			s, err := openFixture(t, tt.file, tt.cols)
			if err == nil {
				if tt.atOpen {
					t.Fatal("OpenShard succeeded, want an error")
				}
				err = readShard(s)
			} else if !tt.atOpen {
				t.Fatalf("OpenShard: %v", err)
			}
			checkInputError(t, err, tt.file, tt.column, tt.row, tt.reason)
		})
	}
}

func checkInputError(t *testing.T, err error, object, column string, row int64, reason string) {
	t.Helper()
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T), want an *InputError", err, err)
	}
	if ie.Object != object || ie.Column != column || ie.Row != row || !strings.Contains(ie.Reason, reason) {
		t.Errorf("error %q: object %q column %q row %d, want %q %q %d and a reason containing %q",
			err, ie.Object, ie.Column, ie.Row, object, column, row, reason)
	}
	if !strings.Contains(err.Error(), object) {
		t.Errorf("message %q does not name the object", err)
	}
}
