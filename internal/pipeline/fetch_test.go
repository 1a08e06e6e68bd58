package pipeline

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestFetchShared checks that concurrent gets of one key share one fetch,
// and that a failed fetch gives its buffer back and reports its error.
func TestFetchShared(t *testing.T) {
	var f Fetcher
	release := make(chan struct{})
	calls := 0
	fetch := func(buf []byte) error {
		calls++
		<-release
		copy(buf, "shard")
		return nil
	}
	var wg sync.WaitGroup
	got := make([]*Fetched, 3)
	for i := range got {
		wg.Go(func() { got[i] = f.Get("k", 5, fetch) })
	}
	threeIn := func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		o := f.active["k"]
		return o != nil && o.n.Load() == 3
	}
	for deadline := time.Now().Add(10 * time.Second); !threeIn(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for three gets of one key")
		}
	}
	close(release)
	wg.Wait()
	if calls != 1 {
		t.Errorf("%d fetches for three gets of one key, want 1", calls)
	}
	for i, o := range got {
		if string(o.data) != "shard" || o.Err != nil {
			t.Errorf("get %d: %q, %v", i, o.data, o.Err)
		}
		f.Release(o)
	}
	if len(f.active) != 0 || f.PooledBytes() < 5 {
		t.Errorf("after the last release: %d fetches active, pool buffer of %d bytes", len(f.active), f.PooledBytes())
	}

	boom := errors.New("boom")
	o := f.Get("k", 5, func([]byte) error { return boom })
	if o.Err != boom || o.data != nil {
		t.Errorf("failed fetch: data %q, err %v", o.data, o.Err)
	}
	f.Release(o)
	if f.PooledBytes() < 5 {
		t.Errorf("a failed fetch kept its buffer")
	}
}
