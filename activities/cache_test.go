package activities

import (
	"context"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/workflows"
)

// TestCachesFollowMemoryBudget mines a tile of each of two query blocks
// against each of two corpus shards, block-major, and looks at what the
// worker kept: with a memory budget and no cache sizes set, what the budget
// leaves beside the job's peak holds both blocks and both shards; without a
// budget, with one the job's peak fills, or while a tile of another job
// fills the budget, only the last block and shard read are kept.
// A tile of such a job that starts after the four lets go of what they kept.
func TestCachesFollowMemoryBudget(t *testing.T) {
	tests := []struct {
		name   string
		budget func(peak int64) int64
		beside bool // a tile of a job that fills the budget runs meanwhile
		all    bool // both blocks and both shards kept
	}{
		{"no budget", func(int64) int64 { return 0 }, false, false},
		{"the peak fills the budget", func(peak int64) int64 { return peak }, false, false},
		{"room beside the peak", func(peak int64) int64 { return peak + 1<<30 }, false, true},
		{"a tile filling the budget runs beside", func(peak int64) int64 { return peak + 1<<30 }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := layout(t, pairsData(2_000, 100), 2, 1) // a fresh output
			spec.QueryBlockRows = 50
			spec = spec.WithDefaults()
			a := quiet()
			plan, p := planJob(t, a, spec)
			peak, _ := jobOf(t, p).Estimate().Peak()
			a.MemoryBudget = tt.budget(peak)
			if tt.beside {
				defer a.hold(a.MemoryBudget)()
			}
			for _, bs := range [][2]int{{0, 0}, {0, 1}, {1, 0}, {1, 1}} {
				mineTile(t, a, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: bs[0], Shard: bs[1]})
			}
			kept := func(all bool) {
				t.Helper()
				for b := range 2 {
					if got := a.queries.Has(queryBlockKey(p, b)); got != (all || b == 1) {
						t.Errorf("query block %d kept: %v", b, got)
					}
				}
				for s := range 2 {
					if got := a.shards.Has(shardKey(p, s, reader.Needs{})); got != (all || s == 1) {
						t.Errorf("corpus shard %d kept: %v", s, got)
					}
				}
			}
			kept(tt.all)
			if tt.all {
				release := a.hold(a.MemoryBudget) // a tile of a job that fills the budget starts
				kept(false)
				release()
			}
		})
	}
}

// TestShardBuffersRecycled checks the life of a cached corpus shard: it stays
// cached, whole, while a tile holds it, even when another shard is read; once
// no tile holds it, reading another shard drops it and that shard is read
// into its buffer.
func TestShardBuffersRecycled(t *testing.T) {
	spec := layout(t, pairsData(3_000, 100), 3, 1).WithDefaults() // three shards of 1,000 rows
	ctx := context.Background()
	a := quiet()
	_, p := planJob(t, a, spec)
	s0, err := a.loadShard(ctx, p, 0, reader.Needs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.loadShard(ctx, p, 0, reader.Needs{}, nil)
	if again != s0 {
		t.Fatal("shard 0 read twice: want the cached one")
	}
	again.Release()
	want := slices.Clone(s0.Emb.Data)
	s1, err := a.loadShard(ctx, p, 1, reader.Needs{}, nil) // a tile still holds shard 0: it stays
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s0.Emb.Data, want) || &s1.Emb.Data[0] == &s0.Emb.Data[0] {
		t.Fatal("shard 0 changed while a tile held it")
	}
	s0.Release()
	again, _ = a.loadShard(ctx, p, 0, reader.Needs{}, nil)
	if again != s0 {
		t.Fatal("shard 0 read again after a tile held it: want the cached one")
	}
	again.Release()
	buf := &s1.Emb.Data[0]
	s1.Release() // now no tile holds shard 0 or 1: reading shard 2 drops both
	s2, err := a.loadShard(ctx, p, 2, reader.Needs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Release()
	if &s2.Emb.Data[0] != buf {
		t.Error("shard 2 read into a fresh buffer: want the first dropped shard's")
	}
	fresh, err := reader.ReadShard(ctx, quiet().source(), p, spec.Corpus, p.Corpus[2], reader.Needs{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s2.Emb.Data, fresh.Emb.Data) {
		t.Error("shard 2 read into a recycled buffer differs from a fresh read")
	}
}
