package activities

import (
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/miner"
)

// TestOutputRowNeedsIDs checks that a picked row whose id the windows' table
// lacks is an error naming the row, not an empty id in a part.
func TestOutputRowNeedsIDs(t *testing.T) {
	table := &checkpoint.IDTable{Rows: []int64{2, 5, 9, 40}, IDs: []string{"c2", "c5", "c9", "c40"}}
	qw := checkpoint.QueryWindow{ID: "q1", Positives: []string{"c9", "absent"}, IDs: table}
	row := miner.Row{Negatives: []miner.Negative{{Row: 5}, {Row: 40}}, Positives: []miner.Candidate{{Row: 9, Score: 0.75}}}
	r, d, err := outputRow(qw, row)
	if err != nil || !slices.Equal(r.NegativeIDs, []string{"c5", "c40"}) || !slices.Equal(r.PositiveIDs, []string{"c9"}) {
		t.Fatalf("outputRow = %+v, %v; want negatives c5 c40 and positive c9", r, err)
	}
	if !slices.Equal(d.negatives, []int64{5, 40}) || !slices.Equal(d.positives, []int64{9}) {
		t.Errorf("document rows %+v, want negatives 5 40 and positive 9", d)
	}
	qw.IDs = &checkpoint.IDTable{Rows: table.Rows[:3], IDs: table.IDs[:3]}
	if _, _, err := outputRow(qw, row); err == nil || !strings.Contains(err.Error(), "row 40") {
		t.Errorf("got %v, want an error naming row 40", err)
	}
}

// TestMissingPositives checks that only distinct ids absent from the output
// count as positives not in the corpus: a repeated id found once is not
// missing, and a repeated absent id is one missing positive.
func TestMissingPositives(t *testing.T) {
	tests := []struct {
		input, found []string
		want         int64
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, 0},
		{[]string{"a", "a", "b"}, []string{"a", "b"}, 0},
		{[]string{"a", "x"}, []string{"a"}, 1},
		{[]string{"x", "x", "a"}, []string{"a"}, 1},
		{[]string{"x", "y"}, nil, 2},
		{nil, nil, 0},
	}
	for _, tt := range tests {
		if got := missingPositives(tt.input, tt.found); got != tt.want {
			t.Errorf("missingPositives(%q, %q) = %d, want %d", tt.input, tt.found, got, tt.want)
		}
	}
}
