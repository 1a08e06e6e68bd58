package pipeline

import (
	"sync"
	"sync/atomic"

	"github.com/hardneg/hardneg/internal/hugepages"
)

// Cached is what LRU keeps: a value (a decoded query block or corpus shard)
// that counts its users. Hold is called for the cache's own reference and for
// every caller that gets the value, Release when the cache or a caller lets
// go, Busy reports a user besides the cache.
type Cached interface {
	Hold()
	Release()
	Busy() bool
}

// RefCount implements Hold and Busy for Cached values; each value's Release
// calls Drop.
type RefCount struct{ n atomic.Int32 }

// Hold takes one reference.
func (r *RefCount) Hold() { r.n.Add(1) }

// Busy reports a reference besides the cache's.
func (r *RefCount) Busy() bool { return r.n.Load() > 1 }

// Drop lets go of one reference and reports whether it was the last.
func (r *RefCount) Drop() bool { return r.n.Add(-1) == 0 }

// LRU keeps recently read values (decoded query blocks, corpus shards), most
// recent last: at most maxBytes of them, or only the last one read when
// maxBytes is 0, and besides those the values still in use by a caller
// (busy): dropping one of those would free nothing, and the next tile of its
// block would read it again (a worker's two tiles in flight are often of two
// query blocks, taking turns). Before it reads a value it lets go of the ones it
// would drop for it, so that they and the new one are not held at once.
// Concurrent callers of one key wait for one read.
//
// A caller must release the value it got. The cache holds a value it hands
// out, and releases one it lets go of, under its lock, so that a value is
// never let go of between being found and being held.
type LRU[T Cached] struct {
	mu       sync.Mutex
	maxBytes int64
	entries  []cacheEntry[T]      // most recent last
	loading  map[string]*loadLock // keys being read
}

type cacheEntry[T Cached] struct {
	key   string
	value T
	bytes int64
}

// Get returns the value of key, reading it with load (a value of size bytes)
// unless it is cached.
func (c *LRU[T]) Get(key string, size int64, load func() (T, error)) (T, error) {
	lk := c.startLoad(key)
	defer c.endLoad(key, lk)
	// One load per key at a time: concurrent tiles of a block wait for it.
	lk.mu.Lock()
	defer lk.mu.Unlock()
	if b, ok := c.lookup(key); ok {
		return b, nil
	}
	c.makeRoom(size)
	b, err := load()
	if err != nil {
		return b, err
	}
	b.Hold() // the caller's reference
	c.add(key, b, size)
	return b, nil
}

// loadLock lets one caller of a key load it while the others wait; n counts
// the callers of the key inside get.
type loadLock struct {
	mu sync.Mutex
	n  int
}

// startLoad returns the key's loadLock, counting the caller in.
func (c *LRU[T]) startLoad(key string) *loadLock {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loading == nil {
		c.loading = map[string]*loadLock{}
	}
	lk, ok := c.loading[key]
	if !ok {
		lk = new(loadLock)
		c.loading[key] = lk
	}
	lk.n++
	return lk
}

// endLoad counts the caller out; the last one forgets the key, whether its
// load succeeded (the key is then Cached) or failed (then it is neither
// Cached nor being read, and has says so).
func (c *LRU[T]) endLoad(key string, lk *loadLock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lk.n--; lk.n == 0 {
		delete(c.loading, key)
	}
}

// Has reports whether key is Cached or being read.
func (c *LRU[T]) Has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.loading[key]; ok {
		return true
	}
	for _, e := range c.entries {
		if e.key == key {
			return true
		}
	}
	return false
}

// SetLimit bounds the bytes of the values kept (0: only the last one read).
func (c *LRU[T]) SetLimit(n int64) {
	c.mu.Lock()
	c.maxBytes = max(n, 0)
	c.mu.Unlock()
}

func (c *LRU[T]) lookup(key string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.key == key {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			e.value.Hold()
			return e.value, true
		}
	}
	var none T
	return none, false
}

// makeRoom drops the least recent values until one of size bytes fits.
func (c *LRU[T]) makeRoom(size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(size, 0)
}

// evict drops the least recent values that are not busy while they and the
// extra bytes are over the limit, keeping at least the keep most recent. The
// caller holds c.mu.
func (c *LRU[T]) evict(extra int64, keep int) {
	total := extra
	for _, e := range c.entries {
		total += e.bytes
	}
	n := len(c.entries)
	kept := c.entries[:0]
	for i, e := range c.entries {
		if total > c.maxBytes && i < n-keep && !e.value.Busy() {
			total -= e.bytes
			e.value.Release()
			continue
		}
		kept = append(kept, e)
	}
	clear(c.entries[len(kept):])
	c.entries = kept
}

// add keeps a value just read, and drops the least recent ones over the
// limit (only ever the last one read stays when it alone is over it).
func (c *LRU[T]) add(key string, b T, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b.Hold() // the cache's reference
	c.entries = append(c.entries, cacheEntry[T]{key, b, size})
	c.evict(0, 1)
}

// BufPool keeps one large buffer whose last user is done, for the next
// user of its size (corpus shards' floats, fetched shards' bytes): touching
// fresh memory costs more than decoding a shard into it on some machines (a
// third of a second per 100 MB here, in page faults), and the garbage
// collector would hand back the old one only after a cycle, zeroed.
type BufPool[T any] struct {
	mu   sync.Mutex
	free []T
}

// Get returns a buffer of n elements, with unspecified contents.
func (p *BufPool[T]) Get(n int) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(p.free) >= n {
		b := p.free[:n]
		p.free = nil
		return b
	}
	return hugepages.Make[T](n)
}

// Put keeps b for a later Get, in place of a smaller one.
func (p *BufPool[T]) Put(b []T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(b) > cap(p.free) {
		p.free = b
	}
}

// Busy reports whether key is cached and held by a caller besides the cache.
func (c *LRU[T]) Busy(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.key == key {
			return e.value.Busy()
		}
	}
	return false
}
