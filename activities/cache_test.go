package activities

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
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
		b.release() // done with it: only the cache holds it
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
	a, _ := c.get("a", 60, func() (*queryBlock, error) { return &queryBlock{}, nil })
	a.release()
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

// TestShardBuffersRecycled checks the life of a cached corpus shard: it stays
// cached, whole, while a tile holds it, even when another shard is read; once
// no tile holds it, reading another shard drops it and that shard is read
// into its buffer.
func TestShardBuffersRecycled(t *testing.T) {
	spec := layout(t, pairsData(3_000, 100), 3, 1).WithDefaults() // three shards of 1,000 rows
	ctx := context.Background()
	a := quiet()
	_, p := planJob(t, a, spec)
	s0, err := a.loadShard(ctx, p, 0, needs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := a.loadShard(ctx, p, 0, needs{}, nil)
	if again != s0 {
		t.Fatal("shard 0 read twice: want the cached one")
	}
	again.release()
	want := slices.Clone(s0.emb.Data)
	s1, err := a.loadShard(ctx, p, 1, needs{}, nil) // a tile still holds shard 0: it stays
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s0.emb.Data, want) || &s1.emb.Data[0] == &s0.emb.Data[0] {
		t.Fatal("shard 0 changed while a tile held it")
	}
	s0.release()
	again, _ = a.loadShard(ctx, p, 0, needs{}, nil)
	if again != s0 {
		t.Fatal("shard 0 read again after a tile held it: want the cached one")
	}
	again.release()
	buf := &s1.emb.Data[0]
	s1.release() // now no tile holds shard 0 or 1: reading shard 2 drops both
	s2, err := a.loadShard(ctx, p, 2, needs{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.release()
	if &s2.emb.Data[0] != buf {
		t.Error("shard 2 read into a fresh buffer: want the first dropped shard's")
	}
	fresh, err := quiet().readShard(ctx, p, spec.Corpus, p.Corpus[2], needs{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s2.emb.Data, fresh.emb.Data) {
		t.Error("shard 2 read into a recycled buffer differs from a fresh read")
	}
}

// TestCacheKeepsBusyBlocks checks that a block still in use is not dropped
// for a new one (that would free nothing), so that the next user of its key
// finds it, and that it goes once it is free.
func TestCacheKeepsBusyBlocks(t *testing.T) {
	var c lru[*queryBlock]
	loads := 0
	get := func(key string) *queryBlock {
		t.Helper()
		b, err := c.get(key, 10, func() (*queryBlock, error) { loads++; return &queryBlock{}, nil })
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kept := func() []string {
		var keys []string
		for _, e := range c.entries {
			keys = append(keys, e.key)
		}
		return keys
	}
	a := get("a") // a tile of block a is mining
	b := get("b") // a tile of block b starts beside it
	if k := kept(); !slices.Equal(k, []string{"a", "b"}) {
		t.Fatalf("kept %v, want a (busy) and b", k)
	}
	b.release()
	if a2 := get("a"); a2 != a || loads != 2 { // the next tile of block a
		t.Fatalf("%d loads, want 2: the busy block was read again", loads)
	} else {
		a2.release()
	}
	a.release()
	get("c").release()
	if k := kept(); !slices.Equal(k, []string{"c"}) {
		t.Fatalf("kept %v once a is free, want only c", k)
	}
}

// TestCacheFailedLoadNotCached checks that a load that fails leaves the key
// neither cached nor being read: has reports false, so MineTile does not take
// the tile's data for cached and fetchTile fetches it, and the next get loads
// again.
func TestCacheFailedLoadNotCached(t *testing.T) {
	var c lru[*queryBlock]
	failed := errors.New("store unavailable")
	if _, err := c.get("a", 10, func() (*queryBlock, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Fatalf("get with a failing load: %v, want %v", err, failed)
	}
	if c.has("a") {
		t.Fatal("has reports a key whose load failed as cached or being read")
	}
	loads := 0
	b, err := c.get("a", 10, func() (*queryBlock, error) { loads++; return &queryBlock{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	b.release()
	if loads != 1 || !c.has("a") {
		t.Fatalf("after a failed load, get loaded %d times and has=%v; want 1 load, cached", loads, c.has("a"))
	}
}
