package activities

import (
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
