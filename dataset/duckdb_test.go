package dataset

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

// duckDBRead runs testdata/gen/gen.mjs read on file: DuckDB's column types
// and rows. It skips the test where node or the script's packages
// (npm ci in testdata/gen) are missing.
func duckDBRead(t *testing.T, file string) (types map[string]string, rows [][]any) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	gen := filepath.Join("testdata", "gen")
	if _, err := os.Stat(filepath.Join(gen, "node_modules", "@duckdb")); err != nil {
		t.Skip("DuckDB is not installed: run npm ci in testdata/gen")
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		t.Fatal(err)
	}
	out, err := runIn(gen, node, "gen.mjs", "read", abs)
	if err != nil {
		t.Fatalf("DuckDB could not read %s: %v\n%s", file, err, out)
	}
	var res struct {
		Types map[string]string
		Rows  [][]any
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res.Types, res.Rows
}

// TestDuckDBReadsResults checks that DuckDB reads the written parts with the
// intended types.
func TestDuckDBReadsResults(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, f func(*bytes.Buffer) error) string {
		var buf bytes.Buffer
		if err := f(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ntuple := write("ntuple.parquet", func(b *bytes.Buffer) error {
		return WriteNTuples(b, []NTuple[string]{{QueryID: "q1", PositiveIDs: []string{"d7"}, PositiveScores: []float32{0.5},
			NegativeIDs: []string{"d3"}, NegativeScores: []float32{0.25}, NegativeKinds: []string{HardNegative}, NegativeRanks: []int32{2}}})
	})
	intIDs := write("ntuple_int64.parquet", func(b *bytes.Buffer) error {
		return WriteNTuples(b, []NTuple[int64]{{QueryID: 1, PositiveIDs: []int64{7}, PositiveScores: []float32{0.5},
			NegativeIDs: []int64{3}, NegativeScores: []float32{0.25}, NegativeKinds: []string{EasyNegative}, NegativeRanks: []int32{-1}}})
	})
	tests := []struct {
		file  string
		types map[string]string
		row   []any
	}{
		{ntuple, map[string]string{"query_id": "VARCHAR", "positive_ids": "VARCHAR[]", "positive_scores": "FLOAT[]", "negative_ids": "VARCHAR[]",
			"negative_scores": "FLOAT[]", "negative_kinds": "VARCHAR[]", "negative_ranks": "INTEGER[]"},
			[]any{"q1", []any{"d7"}, []any{0.5}, []any{"d3"}, []any{0.25}, []any{"hard"}, []any{2.0}}},
		{intIDs, map[string]string{"query_id": "BIGINT", "positive_ids": "BIGINT[]", "positive_scores": "FLOAT[]", "negative_ids": "BIGINT[]",
			"negative_scores": "FLOAT[]", "negative_kinds": "VARCHAR[]", "negative_ranks": "INTEGER[]"},
			[]any{"1", []any{"7"}, []any{0.5}, []any{"3"}, []any{0.25}, []any{"easy"}, []any{-1.0}}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			types, rows := duckDBRead(t, tt.file)
			if !reflect.DeepEqual(types, tt.types) {
				t.Errorf("types %v, want %v", types, tt.types)
			}
			if len(rows) != 1 || !reflect.DeepEqual(rows[0], tt.row) {
				t.Errorf("rows %v, want [%v]", rows, tt.row)
			}
		})
	}
}
