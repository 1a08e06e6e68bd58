package manifest

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
)

// TestKeys checks the keys of _manifest.json and of its statistics: readers
// of the output (and Finished, of an older output) find the fields by them.
func TestKeys(t *testing.T) {
	for _, c := range []struct {
		v    any
		want []string
	}{
		{Manifest{}, []string{"program", "spec", "fingerprint", "output_format", "range_max", "max_positives",
			"dim", "inputs", "statistics", "parts", "phases"}},
		{Program{}, []string{"name", "version", "go"}}, // revision only when known
		{Inputs{}, []string{"corpus_rows", "query_rows", "corpus"}},
		{Phase{}, []string{"name", "start", "end", "seconds"}},
		{Stats{}, []string{"queries", "rows", "rows_possible", "parts", "hard_negatives", "easy_negatives",
			"queries_short_of_hard_negatives", "queries_short_of_negatives", "queries_without_anchor",
			"capped_by_max_negative_frequency", "positives_not_in_corpus", "candidates_removed", "scores",
			"most_frequent_negatives", "table"}},
	} {
		data, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		if got, want := slices.Sorted(maps.Keys(m)), slices.Sorted(slices.Values(c.want)); !slices.Equal(got, want) {
			t.Errorf("%T keys %v, want %v", c.v, got, want)
		}
	}
}
