package dataset

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
)

// TestPartBytesPinned writes one set of rows in every format and pair of id
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
	for _, tc := range []struct{ format, queryKind, corpusKind, sha string }{
		{"n-tuple", "string", "string", "d43d3946642ae490ceee93102db520d71a843423393a9a9bf67732d5977a2808"},
		{"n-tuple", "int64", "int64", "c7b7fe92d0ead3ada4e2506cc0202dbd72ac646522482b339df8c876ff226a2a"},
		{"n-tuple", "string", "int64", "e3ac01d408008d8112475f3f78b477f25bac2447690e4d30deb0c0017b12b9a0"},
		{"n-tuple", "int64", "string", "e81003396da64c3ec95f79d4881f2a96d9cc79e386b6478ef064734ab85c91ba"},
		{"triplet", "string", "string", "3f595d71aa0dd5f663752914eeae928842164b0ea58dcdc8cda9016e2e4f4cc4"},
		{"triplet", "int64", "int64", "66c36ca8ca263ad9c51ac151a0dd71b448636a88cfd25f42fe5b2b2cc9a56210"},
		{"triplet", "string", "int64", "19750fc3e12a1039321f48d4a22a48cac07726589bef84275428b6bbe6d404ee"},
		{"triplet", "int64", "string", "901a3d9081f08ec2494d6922fd4088f0b1874c78900f27390733f683970c3c24"},
	} {
		var buf bytes.Buffer
		if err := WritePart(&buf, rows, tc.format, tc.queryKind, tc.corpusKind); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(buf.Bytes())); got != tc.sha {
			t.Errorf("%s part, %s query ids, %s corpus ids: sha256 %s, want %s", tc.format, tc.queryKind, tc.corpusKind, got, tc.sha)
		}
	}
}
