package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// benchData is a corpus of 40,000 × 256 in 2 shards and 4,096 queries in one
// block: one tile is 4,096 × 20,000 × 256.
func benchData(b *testing.B) (workflows.Spec, workflows.PlanResult, *Activities) {
	b.Helper()
	d := synth.Generate(synth.Config{Corpus: 40000, Queries: 4096, Dim: 256, Clusters: 50,
		NearDupShare: 0.2, MultiPosShare: 0.3, Seed: 3}, 0)
	spec := writeSynth(b, b.TempDir(), d, 2, 1)
	spec.Run, spec.QueryBlockRows, spec.NumNegatives, spec.EasyNegatives = "bench", 4096, 5, 2
	spec = spec.WithDefaults()
	a := quiet()
	plan, err := a.Plan(context.Background(), workflows.PlanInput{Spec: spec})
	if err != nil {
		b.Fatal(err)
	}
	return spec, plan, a
}

// BenchmarkMineTile measures one MineTile activity: read the query block
// (cached after the first call, as on a worker running a block's tiles) and the
// corpus shard, search, write the partial. BenchmarkSearchTile measures the
// search alone on the same tile; the difference is the activity's overhead.
func BenchmarkMineTile(b *testing.B) {
	spec, plan, a := benchData(b)
	ctx := context.Background()
	in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0, Shard: 1}
	out := strings.TrimSuffix(spec.Output, "/")
	for b.Loop() {
		os.Remove(filepath.Join(out, job.TileKey(plan.Fingerprint, 0, 1)))
		if r, err := a.MineTile(ctx, in); err != nil || r.Skipped {
			b.Fatal(err, r.Skipped)
		}
	}
}

func BenchmarkSearchTile(b *testing.B) {
	spec, plan, a := benchData(b)
	ctx := context.Background()
	p, _, err := a.loadPlan(ctx, spec, plan.Fingerprint)
	if err != nil {
		b.Fatal(err)
	}
	qb, err := a.loadQueryBlock(ctx, p, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	shard, err := reader.ReadShard(ctx, a.source(), p, spec.Corpus, p.Corpus[1], reader.Needs{}, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	tile, err := a.buildTile(p, qb, shard, p.Corpus[1])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := miner.SearchTile(tile); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunLocal measures a whole job in-process (plan, 2 tiles, merge,
// rebalance, finalize) on the data of BenchmarkSearchTile: compare with two
// searches.
func BenchmarkRunLocal(b *testing.B) {
	spec, _, _ := benchData(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		s := spec
		s.Output = strings.TrimSuffix(spec.Output, "/") + "-" + string(rune('a'+i%26)) + "/"
		os.RemoveAll(s.Output)
		if _, err := quiet().RunLocal(ctx, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMergeRebalance measures the activities after the tiles: MergeBlock
// of one block of 25,000 queries over 4 shards, and Rebalance of two such
// blocks into parts (the tail of a job that follows its last tile). The
// tiles are mined once, before the timing, at a small dimension.
func BenchmarkMergeRebalance(b *testing.B) {
	d := synth.Generate(synth.Config{Corpus: 100000, Queries: 50000, Dim: 16, Clusters: 50,
		NearDupShare: 0.2, MultiPosShare: 0.3, Seed: 5}, 0)
	root := b.TempDir()
	write := func(dir string, shards [][]byte, err error) {
		if err != nil {
			b.Fatal(err)
		}
		os.MkdirAll(filepath.Join(root, dir), 0o755)
		for i, s := range shards {
			os.WriteFile(filepath.Join(root, dir, fmt.Sprintf("s%d.parquet", i)), s, 0o644)
		}
	}
	cs, err := synth.Shards(d.Corpus, 4)
	write("c", cs, err)
	qs, err := synth.Shards(d.Queries, 2)
	write("q", qs, err)
	spec := workflows.Spec{Run: "bench", Corpus: root + "/c/", Queries: root + "/q/", Output: root + "/o/",
		QueryBlockRows: 25000, NumNegatives: 4, EasyNegatives: 1, RelativeMargin: new(0.05)}.WithDefaults()
	a := quiet()
	ctx := context.Background()
	plan := mineTiles(b, a, spec, false)
	out := strings.TrimSuffix(spec.Output, "/")
	b.Run("merge", func(b *testing.B) {
		for b.Loop() {
			os.Remove(filepath.Join(out, job.BlockKey(plan.Fingerprint, 0)))
			if _, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0}); err != nil {
				b.Fatal(err)
			}
		}
	})
	if _, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 1}); err != nil {
		b.Fatal(err)
	}
	b.Run("rebalance", func(b *testing.B) {
		for b.Loop() {
			if _, err := a.Rebalance(ctx, workflows.RebalanceInput{Spec: spec, Fingerprint: plan.Fingerprint, Blocks: plan.Blocks}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
