package activities

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/miner"
)

// TestWindowIDs checks that the id table of a block's windows names each row
// once, from the partial of the shard that holds it, and that a row without an
// id is an error naming the row, not an empty id in the output.
func TestWindowIDs(t *testing.T) {
	shards := []job.Shard{{First: 0, Rows: 10}, {First: 10, Rows: 10}}
	tables := []*checkpoint.IDTable{{Rows: []int64{1, 4}, IDs: []string{"a", "x"}}, {Rows: []int64{12}, IDs: []string{"b"}}}
	qws := []checkpoint.QueryWindow{
		{Win: miner.Window{Hard: []miner.Negative{{Row: 12}, {Row: 1}}}},
		{Win: miner.Window{Positives: []miner.Candidate{{Row: 1}}}},
	}
	names, err := windowIDs(qws, shards, tables)
	if err != nil || !slices.Equal(names.Rows, []int64{1, 12}) || !slices.Equal(names.IDs, []string{"a", "b"}) {
		t.Fatalf("windowIDs = %+v, %v; want rows [1 12] named [a b]", names, err)
	}
	for _, row := range []int64{13, 25} {
		qws[1].Win.Easy = []miner.Negative{{Row: row}}
		if _, err := windowIDs(qws, shards, tables); err == nil || !strings.Contains(err.Error(), fmt.Sprint("row ", row)) {
			t.Errorf("row %d: got %v, want an error naming it", row, err)
		}
	}
}
