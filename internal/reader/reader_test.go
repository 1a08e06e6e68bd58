package reader

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
	"github.com/hardneg/hardneg/workflows"
)

// synthPlan writes a synthetic corpus of 3 shards and queries of 2 and
// returns the checked plan of them, the data and where to read it.
func synthPlan(t *testing.T) (*job.Plan, synth.Data, inputs.Source) {
	t.Helper()
	d := synth.Generate(synth.Config{Corpus: 90, Queries: 40, Dim: 8, Clusters: 4, Seed: 5}, 0)
	root := t.TempDir()
	write := func(dir string, shards [][]byte, err error) {
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(root, dir), 0o755)
		for i, sh := range shards {
			if err := os.WriteFile(filepath.Join(root, dir, fmt.Sprintf("s%d.parquet", i)), sh, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cs, err := synth.Shards(d.Corpus, 3)
	write("c", cs, err)
	qs, err := synth.Shards(d.Queries, 2)
	write("q", qs, err)
	src := inputs.Source{Store: func(_ context.Context, uri string) (storage.Store, error) { return file.New(uri) }}
	spec := workflows.Spec{Corpus: filepath.Join(root, "c"), Queries: filepath.Join(root, "q"), Output: filepath.Join(root, "o"),
		TextColumn: "text", QueryBlockRows: 16}.WithDefaults()
	p, err := src.Check(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return p, d, src
}

// TestCorpusIDsAndTexts checks that the ids and texts read by global row are
// those of the rows, across shards, whatever the order of the rows asked
// for and with rows asked twice.
func TestCorpusIDsAndTexts(t *testing.T) {
	p, d, src := synthPlan(t)
	ctx := context.Background()
	rows := []int64{75, 3, 31, 3, 89, 30}
	ids, err := CorpusIDs(ctx, src, p, rows)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, err := p.BlockRange(1)
	if err != nil {
		t.Fatal(err)
	}
	queries, corpus, err := BlockTexts(ctx, src, p, lo, hi, rows)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if ids[r] != d.Corpus[r].ID || corpus[r] != d.Corpus[r].Text {
			t.Errorf("row %d: id %q, text %q; want %q, %q", r, ids[r], corpus[r], d.Corpus[r].ID, d.Corpus[r].Text)
		}
	}
	if len(queries) != int(hi-lo) {
		t.Errorf("%d query texts for block 1, want %d", len(queries), hi-lo)
	}
	for r := lo; r < hi; r++ {
		if queries[r] != d.Queries[r].Text {
			t.Errorf("query row %d: text %q, want %q", r, queries[r], d.Queries[r].Text)
		}
	}
}

// TestReadQueryBlockSpansShards checks that a block whose rows lie in two
// query shards gathers them in order, ids and positives with their rows.
func TestReadQueryBlockSpansShards(t *testing.T) {
	p, d, src := synthPlan(t)
	lo, hi, err := p.BlockRange(1) // rows 16..32: query shards of 20 rows each
	if err != nil {
		t.Fatal(err)
	}
	qb, err := ReadQueryBlock(context.Background(), src, p, lo, hi, nil)
	if err != nil {
		t.Fatal(err)
	}
	if qb.First != lo || qb.Emb.Rows != int(hi-lo) || len(qb.IDs) != int(hi-lo) || len(qb.Positives) != int(hi-lo) {
		t.Fatalf("block of %d rows from %d, %d ids, %d positive lists; want %d from %d", qb.Emb.Rows, qb.First, len(qb.IDs), len(qb.Positives), hi-lo, lo)
	}
	for i := range qb.IDs {
		q := d.Queries[lo+int64(i)]
		if qb.IDs[i].S != q.ID || len(qb.Positives[i]) != len(q.PositiveIDs) || qb.Positives[i][0].S != q.PositiveIDs[0] {
			t.Errorf("row %d: id %v positives %v, want %s %v", lo+int64(i), qb.IDs[i], qb.Positives[i], q.ID, q.PositiveIDs)
		}
	}
}
