package activities

import (
	"context"
	"slices"
	"testing"

	"github.com/hardneg/hardneg/internal/reader"
)

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
