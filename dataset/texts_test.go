package dataset

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

// TestReadTexts reads scattered rows of a DuckDB-written text column (5,000
// rows in three row groups): near rows, rows far apart (seeks), the first
// and last rows.
func TestReadTexts(t *testing.T) {
	s, err := openFixture(t, "texts.parquet", Columns{Text: "text"})
	if err != nil {
		t.Fatal(err)
	}
	tests := [][]int64{
		{0},
		{4999},
		{0, 1, 2, 3},
		{5, 7, 7, 2047, 2048, 2049},
		{1, 4500, 4999},                      // gaps over textGap: separate runs
		{10, 10 + textGap, 10 + textGap + 1}, // a gap of exactly textGap: one run
		{},
	}
	for _, rows := range tests {
		t.Run(fmt.Sprint(rows), func(t *testing.T) {
			got, err := s.ReadTexts(rows)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(rows) {
				t.Fatalf("%d texts for %d rows", len(got), len(rows))
			}
			for i, r := range rows {
				if want := fmt.Sprintf("text of doc-%d ✓", r); got[i] != want {
					t.Errorf("row %d: %q, want %q", r, got[i], want)
				}
			}
		})
	}
	for _, bad := range [][]int64{{3, 2}, {-1}, {5000}} {
		if _, err := s.ReadTexts(bad); err == nil {
			t.Errorf("ReadTexts(%v) succeeded", bad)
		}
	}
}

// TestBadTextColumn checks that a missing, non-string or null text is an
// InputError naming the shard, the column and, for a null, the row.
func TestBadTextColumn(t *testing.T) {
	_, err := openFixture(t, "float_varchar.parquet", Columns{Text: "text"})
	checkInputError(t, err, "float_varchar.parquet", "text", -1, "missing column")
	_, err = openFixture(t, "bad_text_type.parquet", Columns{Text: "text"})
	checkInputError(t, err, "bad_text_type.parquet", "text", -1, "want a string")

	s, err := openFixture(t, "bad_null_text.parquet", Columns{Text: "text"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.ReadTexts([]int64{0, 3}); err != nil || got[1] != "text of doc-3" {
		t.Errorf("rows before the null: %q, %v", got, err)
	}
	_, err = s.ReadTexts([]int64{2, 4})
	checkInputError(t, err, "bad_null_text.parquet", "text", 4, "null text")

	s, err = openFixture(t, "float_varchar.parquet", Columns{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadTexts([]int64{0}); err == nil {
		t.Error("ReadTexts without a text column succeeded")
	}
}

// TestTextReadFailuresKeepTheirClass fails each read of opening a text
// shard and reading scattered texts, with each class of store failure: what
// comes out is the store's error, never a corrupt-input *InputError.
func TestTextReadFailuresKeepTheirClass(t *testing.T) {
	data := fixtureBytes(t, "texts.parquet")
	rows := []int64{3, 900, 2047, 2048, 4999}
	read := func(r *nthFailingReader) ([]string, error) {
		s, err := OpenShard(r, int64(len(data)), "texts.parquet", Columns{Text: "text"})
		if err != nil {
			return nil, err
		}
		return s.ReadTexts(rows)
	}
	clean := &nthFailingReader{data: data, n: -1}
	want, err := read(clean)
	if err != nil {
		t.Fatal(err)
	}
	for _, injected := range readFailures {
		for n := range clean.seen {
			got, err := read(&nthFailingReader{data: data, n: n, err: injected})
			var ie *InputError
			switch {
			case err == nil && !slices.Equal(got, want):
				t.Errorf("read %d failing with %q: no error and a wrong result", n, injected)
			case err != nil && (!errors.Is(err, injected) || errors.As(err, &ie)):
				t.Errorf("read %d failing with %q: got %v, want the store's error and no InputError", n, injected, err)
			}
		}
	}
}
