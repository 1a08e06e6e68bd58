package dataset

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
)

// TestPartBytesPinned writes one set of rows in the grouped format with every pair of id
// types and compares the files' SHA-256 with the ones the writer gave before
// it moved here from package activities: a job resumed across an upgrade, or
// run again, must write the same bytes. (A renamed row type once changed
// them: parquet-go names the schema after it.)
func TestPartBytesPinned(t *testing.T) {
	rows := []PartRow{
		{QueryID: "7", PositiveIDs: []string{"11", "12"}, PositiveScores: []float32{0.9, 0.8},
			NegativeIDs: []string{"21", "22"}, NegativeScores: []float32{0.5, 0.01},
			NegativeKinds: []string{HardNegative, EasyNegative}, NegativeRanks: []int32{3, -1}},
		{QueryID: "8", NegativeIDs: []string{"23"}, NegativeScores: []float32{0.25},
			NegativeKinds: []string{HardNegative}, NegativeRanks: []int32{0}},
	}
	for _, tc := range []struct {
		format                string
		queryKind, corpusKind Kind
		sha                   string
	}{
		// The grouped format, called n-tuple when these were pinned.
		{"grouped", String, String, "d43d3946642ae490ceee93102db520d71a843423393a9a9bf67732d5977a2808"},
		{"grouped", Int64, Int64, "c7b7fe92d0ead3ada4e2506cc0202dbd72ac646522482b339df8c876ff226a2a"},
		{"grouped", String, Int64, "e3ac01d408008d8112475f3f78b477f25bac2447690e4d30deb0c0017b12b9a0"},
		{"grouped", Int64, String, "e81003396da64c3ec95f79d4881f2a96d9cc79e386b6478ef064734ab85c91ba"},
	} {
		var buf bytes.Buffer
		if err := WritePart(&buf, rows, tc.queryKind, tc.corpusKind); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(buf.Bytes())); got != tc.sha {
			t.Errorf("%s part, %s query ids, %s corpus ids: sha256 %s, want %s", tc.format, tc.queryKind, tc.corpusKind, got, tc.sha)
		}
	}
}
