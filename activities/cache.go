package activities

import "sync"

// lru keeps recently read blocks of data (query blocks, corpus shards), most
// recent last: at most maxBytes of them, or only the last one read when
// maxBytes is 0. Before it reads a block it lets go of the blocks it would
// drop for it, so that they and the new one are not held at once. Concurrent
// callers of one key wait for one read.
type lru[T any] struct {
	mu       sync.Mutex
	maxBytes int64
	entries  []cacheEntry[T] // most recent last
	loading  map[string]*sync.Mutex
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
	total := size
	for _, e := range c.entries {
		total += e.bytes
	}
	for len(c.entries) > 0 && total > c.maxBytes {
		total -= c.entries[0].bytes
		c.entries[0] = cacheEntry[T]{}
		c.entries = c.entries[1:]
	}
}

// add keeps a block just read, and drops the least recent ones over the
// limit (only ever the last one read stays when it alone is over it).
func (c *lru[T]) add(key string, b T, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, cacheEntry[T]{key, b, size})
	total := int64(0)
	for _, e := range c.entries {
		total += e.bytes
	}
	for len(c.entries) > 1 && total > c.maxBytes {
		total -= c.entries[0].bytes
		c.entries[0] = cacheEntry[T]{}
		c.entries = c.entries[1:]
	}
}
