package part

import (
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/miner"
)

// TestRowNeedsIDs checks that a picked row whose id the windows' table
// lacks is an error naming the row, not an empty id in a part.
func TestRowNeedsIDs(t *testing.T) {
	table := &checkpoint.IDTable{Rows: []int64{2, 5, 9, 40}, IDs: []string{"c2", "c5", "c9", "c40"}}
	qw := checkpoint.QueryWindow{ID: "q1", Positives: []string{"c9", "absent"}, IDs: table}
	row := miner.Row{Negatives: []miner.Negative{{Row: 5}, {Row: 40}}, Positives: []miner.Candidate{{Row: 9, Score: 0.75}}}
	r, d, err := Row(qw, row)
	if err != nil || !slices.Equal(r.NegativeIDs, []string{"c5", "c40"}) || !slices.Equal(r.PositiveIDs, []string{"c9"}) {
		t.Fatalf("Row = %+v, %v; want negatives c5 c40 and positive c9", r, err)
	}
	if !slices.Equal(d.Negatives, []int64{5, 40}) || !slices.Equal(d.Positives, []int64{9}) {
		t.Errorf("document rows %+v, want negatives 5 40 and positive 9", d)
	}
	qw.IDs = &checkpoint.IDTable{Rows: table.Rows[:3], IDs: table.IDs[:3]}
	if _, _, err := Row(qw, row); err == nil || !strings.Contains(err.Error(), "row 40") {
		t.Errorf("got %v, want an error naming row 40", err)
	}
}
