package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/workflows"
)

// TestFloorsLeaveOutputUnchanged mines every tile of a job twice: once in one
// process, whose later tiles of a block start from the floors its earlier
// ones raised, and once each tile in a fresh process, with no floors. The
// floored partials must be smaller (the floors left candidates out), and the
// merged blocks and the parts byte-identical.
func TestFloorsLeaveOutputUnchanged(t *testing.T) {
	ds := pairsData(3000, 90)
	edit := func(s *workflows.Spec) { s.QueryBlockRows, s.NumNegatives = 30, 2 }
	ctx := context.Background()
	mineAll := func(fresh bool) (workflows.Spec, workflows.PlanResult, int64) {
		spec := layout(t, ds, 6, 2)
		edit(&spec)
		spec = spec.WithDefaults()
		a := quiet()
		plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		var size int64
		for b := range plan.Blocks {
			for s := range plan.CorpusShards {
				if fresh {
					a = quiet()
				}
				if _, err := a.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b, Shard: s}); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(filepath.Join(strings.TrimPrefix(spec.Output, "file://"), job.TileKey(plan.Fingerprint, b, s)))
				if err != nil {
					t.Fatal(err)
				}
				size += fi.Size()
			}
			if _, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b}); err != nil {
				t.Fatal(err)
			}
		}
		return spec, plan, size
	}
	floored, fp, flooredSize := mineAll(false)
	fresh, gp, freshSize := mineAll(true)
	if fp.Blocks != 3 || fp.CorpusShards != 6 {
		t.Fatalf("plan %d blocks × %d shards, want 3 × 6", fp.Blocks, fp.CorpusShards)
	}
	if flooredSize >= freshSize {
		t.Errorf("partials with floors hold %d bytes, without %d: the floors left nothing out", flooredSize, freshSize)
	}
	for b := range fp.Blocks {
		got := mustRead(t, filepath.Join(strings.TrimPrefix(floored.Output, "file://"), job.BlockKey(fp.Fingerprint, b)))
		want := mustRead(t, filepath.Join(strings.TrimPrefix(fresh.Output, "file://"), job.BlockKey(gp.Fingerprint, b)))
		if string(got) != string(want) {
			t.Errorf("merged block %d differs with floors", b)
		}
	}
	runJob(t, quiet(), floored)
	runJob(t, quiet(), fresh)
	sameParts(t, "with floors", partBytes(t, floored), partBytes(t, fresh))
}
