package activities

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBlockCache(t *testing.T) {
	var c blockCache
	c.setLimit(100)
	var loads atomic.Int32
	get := func(key string, size int64) *shardData {
		d, err := c.get(context.Background(), key, func() (*shardData, error) {
			loads.Add(1)
			return &shardData{bytes: size}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// Concurrent callers of one key load it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { get("a", 60) })
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads of one key, want 1", n)
	}
	get("b", 30) // a+b = 90 fit
	get("a", 60) // a is now the most recent
	if n := loads.Load(); n != 2 {
		t.Fatalf("%d loads, want 2", n)
	}
	get("c", 30) // 120 > 100: the least recent (b) goes
	get("a", 60)
	get("b", 30)
	if n := loads.Load(); n != 4 {
		t.Errorf("%d loads, want 4 (b reloaded after eviction, a kept)", n)
	}
	get("huge", 500) // over the limit alone: kept as the last one read
	get("huge", 500)
	if n := loads.Load(); n != 5 {
		t.Errorf("%d loads, want 5 (an entry over the limit is still kept)", n)
	}
}
