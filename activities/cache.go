package activities

import "sync"

// lru keeps recently read blocks of data (query blocks, corpus shards), most
// recent last: at most maxBytes of them, or only the last one read when
// maxBytes is 0, and besides those the blocks still in use by a caller
// (busy): dropping one of those would free nothing, and the next tile of its
// block would read it again (a worker's two tiles in flight are often of two
// blocks, taking turns). Before it reads a block it lets go of the blocks it
// would drop for it, so that they and the new one are not held at once.
// Concurrent callers of one key wait for one read.
type lru[T any] struct {
	mu       sync.Mutex
	maxBytes int64
	entries  []cacheEntry[T] // most recent last
	loading  map[string]*sync.Mutex
	// hold and drop, when set, count references: hold is called for every
	// block handed out and for a block entering the cache, drop for a block
	// leaving it, both under the cache's lock, so that a block is never
	// dropped between being found and being held.
	hold, drop func(T)
	// busy, when set, reports whether a block is in use besides the cache.
	busy func(T) bool
}

type cacheEntry[T any] struct {
	key   string
	block T
	bytes int64
}

// get returns the block of key, reading it with load (a block of size bytes)
// unless it is cached.
func (c *lru[T]) get(key string, size int64, load func() (T, error)) (T, error) {
	c.mu.Lock()
	if c.loading == nil {
		c.loading = map[string]*sync.Mutex{}
	}
	lk, ok := c.loading[key]
	if !ok {
		lk = new(sync.Mutex)
		c.loading[key] = lk
	}
	c.mu.Unlock()
	// One load per key at a time: concurrent tiles of a block wait for it.
	lk.Lock()
	defer lk.Unlock()
	if b, ok := c.lookup(key); ok {
		return b, nil
	}
	c.makeRoom(size)
	b, err := load()
	if err != nil {
		return b, err
	}
	c.mu.Lock()
	c.call(c.hold, b) // the caller's reference
	c.mu.Unlock()
	c.add(key, b, size)
	c.mu.Lock()
	delete(c.loading, key) // later callers find it cached
	c.mu.Unlock()
	return b, nil
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
			c.call(c.hold, e.block)
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
		if total > c.maxBytes && i < n-keep && (c.busy == nil || !c.busy(e.block)) {
			total -= e.bytes
			c.call(c.drop, e.block)
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
	c.call(c.hold, b) // the cache's reference
	c.entries = append(c.entries, cacheEntry[T]{key, b, size})
	c.evict(0, 1)
}

func (c *lru[T]) call(f func(T), b T) {
	if f != nil {
		f(b)
	}
}

// floatPool keeps one large float32 buffer whose last user is done, for the
// next shard of its size: touching fresh memory costs more than decoding a
// shard into it on some machines (a third of a second per 100 MB here, in
// page faults), and the garbage collector would hand back the old one only
// after a cycle, zeroed.
type floatPool struct {
	mu   sync.Mutex
	free []float32
}

// get returns a buffer of n floats, with unspecified contents.
func (p *floatPool) get(n int) []float32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(p.free) >= n {
		b := p.free[:n]
		p.free = nil
		return b
	}
	return make([]float32, n)
}

// put keeps b for a later get, in place of a smaller one.
func (p *floatPool) put(b []float32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cap(b) > cap(p.free) {
		p.free = b
	}
}
