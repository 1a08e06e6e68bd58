package pipeline

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// value is a cached value that counts its users.
type value struct{ RefCount }

func (v *value) Release() { v.Drop() }

func TestCache(t *testing.T) {
	var c LRU[*value]
	var loads atomic.Int32
	get := func(key string, size int64) *value {
		b, err := c.Get(key, size, func() (*value, error) {
			loads.Add(1)
			return &value{}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b.Release() // done with it: only the cache holds it
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
		c.SetLimit(s.limit)
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
	var c LRU[*value]
	c.SetLimit(100)
	a, _ := c.Get("a", 60, func() (*value, error) { return &value{}, nil })
	a.Release()
	c.Get("b", 60, func() (*value, error) {
		if len(c.entries) != 0 {
			t.Errorf("%d blocks held while the next is read, want 0", len(c.entries))
		}
		return &value{}, nil
	})
}

func TestCacheLoadsOnce(t *testing.T) {
	var c LRU[*value]
	var loads atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			c.Get("a", 10, func() (*value, error) {
				loads.Add(1)
				return &value{}, nil
			})
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads of one key by concurrent callers, want 1", n)
	}
}

// TestCacheKeepsBusyBlocks checks that a block still in use is not dropped
// for a new one (that would free nothing), so that the next user of its key
// finds it, and that it goes once it is free.
func TestCacheKeepsBusyBlocks(t *testing.T) {
	var c LRU[*value]
	loads := 0
	get := func(key string) *value {
		t.Helper()
		b, err := c.Get(key, 10, func() (*value, error) { loads++; return &value{}, nil })
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
	b.Release()
	if a2 := get("a"); a2 != a || loads != 2 { // the next tile of block a
		t.Fatalf("%d loads, want 2: the busy block was read again", loads)
	} else {
		a2.Release()
	}
	a.Release()
	get("c").Release()
	if k := kept(); !slices.Equal(k, []string{"c"}) {
		t.Fatalf("kept %v once a is free, want only c", k)
	}
}

// TestCacheFailedLoadNotCached checks that a load that fails leaves the key
// neither cached nor being read: has reports false, so MineTile does not take
// the tile's data for cached and fetchTile fetches it, and the next get loads
// again.
func TestCacheFailedLoadNotCached(t *testing.T) {
	var c LRU[*value]
	failed := errors.New("store unavailable")
	if _, err := c.Get("a", 10, func() (*value, error) { return nil, failed }); !errors.Is(err, failed) {
		t.Fatalf("get with a failing load: %v, want %v", err, failed)
	}
	if c.Has("a") {
		t.Fatal("has reports a key whose load failed as cached or being read")
	}
	loads := 0
	b, err := c.Get("a", 10, func() (*value, error) { loads++; return &value{}, nil })
	if err != nil {
		t.Fatal(err)
	}
	b.Release()
	if loads != 1 || !c.Has("a") {
		t.Fatalf("after a failed load, get loaded %d times and has=%v; want 1 load, cached", loads, c.Has("a"))
	}
}
