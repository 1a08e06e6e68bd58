package activities

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hardneg/hardneg/workflows"
)

func TestCache(t *testing.T) {
	var c lru[*queryBlock]
	var loads atomic.Int32
	get := func(key string, size int64) *queryBlock {
		b, err := c.get(key, size, func() (*queryBlock, error) {
			loads.Add(1)
			return &queryBlock{}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	steps := []struct {
		limit int64
		key   string
		size  int64
		loads int32 // in all, after the step
		kept  []string
	}{
		// Limit 0 keeps only the last block read.
		{0, "a", 60, 1, []string{"a"}},
		{0, "a", 60, 1, []string{"a"}},
		{0, "b", 30, 2, []string{"b"}},
		{0, "a", 60, 3, []string{"a"}},
		// A limit keeps the most recent that fit.
		{100, "b", 30, 4, []string{"a", "b"}}, // a+b = 90 fit
		{100, "a", 60, 4, []string{"b", "a"}}, // a is now the most recent
		{100, "c", 30, 5, []string{"a", "c"}}, // 120 > 100: the least recent (b) goes, before c is read
		{100, "huge", 500, 6, []string{"huge"}},
		{100, "huge", 500, 6, []string{"huge"}}, // over the limit alone: still kept as the last one read
	}
	for i, s := range steps {
		c.setLimit(s.limit)
		get(s.key, s.size)
		var kept []string
		for _, e := range c.entries {
			kept = append(kept, e.key)
		}
		if n := loads.Load(); n != s.loads || !slices.Equal(kept, s.kept) {
			t.Fatalf("step %d (limit %d, get %s): %d loads, kept %v; want %d, %v", i, s.limit, s.key, n, kept, s.loads, s.kept)
		}
	}
}

// TestCacheDropsBeforeLoading checks that the blocks to be dropped for
// a new one are let go of before it is read, not after.
func TestCacheDropsBeforeLoading(t *testing.T) {
	var c lru[*queryBlock]
	c.setLimit(100)
	c.get("a", 60, func() (*queryBlock, error) { return &queryBlock{}, nil })
	c.get("b", 60, func() (*queryBlock, error) {
		if len(c.entries) != 0 {
			t.Errorf("%d blocks held while the next is read, want 0", len(c.entries))
		}
		return &queryBlock{}, nil
	})
}

func TestCacheLoadsOnce(t *testing.T) {
	var c lru[*queryBlock]
	var loads atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c.get("a", 10, func() (*queryBlock, error) {
				loads.Add(1)
				return &queryBlock{}, nil
			})
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads of one key by concurrent callers, want 1", n)
	}
}

// TestShardBuffersRecycled checks the life of a cached corpus shard: it keeps
// its embeddings while any tile holds it, even once the cache has dropped it,
// and its buffer is reused for the next shard only after the last user let go.
func TestShardBuffersRecycled(t *testing.T) {
	spec := layout(t, pairsData(2_000, 100), 2, 1).WithDefaults() // two shards of 1,000 rows
	ctx := context.Background()
	a := quiet()
	plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.loadPlan(ctx, spec, plan.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	s0, err := a.loadShard(ctx, p, 0, needs{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.loadShard(ctx, p, 0, needs{})
	if again != s0 {
		t.Fatal("shard 0 read twice: want the cached one")
	}
	again.release()
	want := slices.Clone(s0.emb.Data)
	s1, err := a.loadShard(ctx, p, 1, needs{}) // drops shard 0 from the cache; a tile still holds it
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s0.emb.Data, want) || &s1.emb.Data[0] == &want[0] {
		t.Fatal("shard 0 changed while a tile held it")
	}
	buf := &s0.emb.Data[0]
	s0.release() // the last user: its buffer goes to the pool
	s1.release()
	s0again, err := a.loadShard(ctx, p, 0, needs{}) // the pool holds shard 0's old buffer
	if err != nil {
		t.Fatal(err)
	}
	defer s0again.release()
	if &s0again.emb.Data[0] != buf {
		t.Error("shard 0 read again into a fresh buffer: want the recycled one")
	}
	if !slices.Equal(s0again.emb.Data, want) {
		t.Error("shard 0 read into a recycled buffer differs")
	}
}

// TestCacheKeepsBusyBlocks checks that a block still in use is not dropped
// for a new one (that would free nothing), so that the next user of its key
// finds it, and that it goes once it is free.
func TestCacheKeepsBusyBlocks(t *testing.T) {
	type block struct{ key string }
	inUse := map[string]bool{}
	var c lru[*block]
	c.busy = func(b *block) bool { return inUse[b.key] }
	loads := 0
	get := func(key string) {
		t.Helper()
		if _, err := c.get(key, 10, func() (*block, error) { loads++; return &block{key}, nil }); err != nil {
			t.Fatal(err)
		}
	}
	kept := func() []string {
		var keys []string
		for _, e := range c.entries {
			keys = append(keys, e.key)
		}
		return keys
	}
	get("a")
	inUse["a"] = true // a tile of block a is still mining
	get("b")          // a tile of block b starts beside it
	if k := kept(); !slices.Equal(k, []string{"a", "b"}) {
		t.Fatalf("kept %v, want a (busy) and b", k)
	}
	get("a") // the next tile of block a
	if loads != 2 {
		t.Fatalf("%d loads, want 2: the busy block was read again", loads)
	}
	inUse["a"] = false
	get("c")
	if k := kept(); !slices.Equal(k, []string{"c"}) {
		t.Fatalf("kept %v once a is free, want only c", k)
	}
}
