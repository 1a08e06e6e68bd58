package activities

import (
	"sync"
	"sync/atomic"

	"github.com/hardneg/hardneg/internal/hugepages"
)

// cached is what lru keeps: a block that counts its users. hold is called
// for the cache's own reference and for every caller that gets the block,
// release when the cache or a caller lets go, busy reports a user besides
// the cache.
type cached interface {
	hold()
	release()
	busy() bool
}

// refCount implements hold and busy for cached blocks; each block's release
// calls drop.
type refCount struct{ n atomic.Int32 }

func (r *refCount) hold()      { r.n.Add(1) }
func (r *refCount) busy() bool { return r.n.Load() > 1 }

// drop lets go of one reference and reports whether it was the last.
func (r *refCount) drop() bool { return r.n.Add(-1) == 0 }

// lru keeps recently read blocks of data (query blocks, corpus shards), most
// recent last: at most maxBytes of them, or only the last one read when
// maxBytes is 0, and besides those the blocks still in use by a caller
// (busy): dropping one of those would free nothing, and the next tile of its
// block would read it again (a worker's two tiles in flight are often of two
// blocks, taking turns). Before it reads a block it lets go of the blocks it
// would drop for it, so that they and the new one are not held at once.
// Concurrent callers of one key wait for one read.
//
// A caller must release the block it got. The cache holds a block it hands
// out, and releases one it lets go of, under its lock, so that a block is
// never let go of between being found and being held.
type lru[T cached] struct {
	mu       sync.Mutex
	maxBytes int64
	entries  []cacheEntry[T]      // most recent last
	loading  map[string]*loadLock // keys being read
}

type cacheEntry[T cached] struct {
	key   string
	block T
	bytes int64
}

// get returns the block of key, reading it with load (a block of size bytes)
// unless it is cached.
func (c *lru[T]) get(key string, size int64, load func() (T, error)) (T, error) {
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
	b.hold() // the caller's reference
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
func (c *lru[T]) startLoad(key string) *loadLock {
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
// load succeeded (the key is then cached) or failed (then it is neither
// cached nor being read, and has says so).
func (c *lru[T]) endLoad(key string, lk *loadLock) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if lk.n--; lk.n == 0 {
		delete(c.loading, key)
	}
}

// has reports whether key is cached or being read.
func (c *lru[T]) has(key string) bool {
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

func (c *lru[T]) setLimit(n int64) {
	c.mu.Lock()
	c.maxBytes = max(n, 0)
	c.mu.Unlock()
}

func (c *lru[T]) lookup(key string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, e := range c.entries {
		if e.key == key {
			c.entries = append(append(c.entries[:i:i], c.entries[i+1:]...), e)
			e.block.hold()
			return e.block, true
		}
	}
	var none T
	return none, false
}

// makeRoom drops the least recent blocks until one of size bytes fits.
func (c *lru[T]) makeRoom(size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(size, 0)
}

// evict drops the least recent blocks that are not busy while the blocks and
// extra bytes are over the limit, keeping at least the keep most recent. The
// caller holds c.mu.
func (c *lru[T]) evict(extra int64, keep int) {
	total := extra
	for _, e := range c.entries {
		total += e.bytes
	}
	n := len(c.entries)
	kept := c.entries[:0]
	for i, e := range c.entries {
		if total > c.maxBytes && i < n-keep && !e.block.busy() {
			total -= e.bytes
			e.block.release()
			continue
		}
		kept = append(kept, e)
	}
	clear(c.entries[len(kept):])
	c.entries = kept
}

// add keeps a block just read, and drops the least recent ones over the
// limit (only ever the last one read stays when it alone is over it).
func (c *lru[T]) add(key string, b T, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b.hold() // the cache's reference
	c.entries = append(c.entries, cacheEntry[T]{key, b, size})
	c.evict(0, 1)
}

// bufPool keeps one large buffer whose last user is done, for the next
// user of its size (corpus shards' floats, fetched shards' bytes): touching
// fresh memory costs more than decoding a shard into it on some machines (a
// third of a second per 100 MB here, in page faults), and the garbage
// collector would hand back the old one only after a cycle, zeroed.
type bufPool[T any] struct {
	mu   sync.Mutex
	free []T
}

// get returns a buffer of n elements, with unspecified contents.
func (p *bufPool[T]) get(n int) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(p.free) >= n {
		b := p.free[:n]
		p.free = nil
		return b
	}
	return hugepages.Make[T](n)
}

// put keeps b for a later get, in place of a smaller one.
func (p *bufPool[T]) put(b []T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(b) > cap(p.free) {
		p.free = b
	}
}
