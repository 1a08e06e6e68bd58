package pipeline

import "sync"

// A tile waiting for its turn (Turns) fetches meanwhile the bytes
// of the objects its read will read whole and no tile before it has read:
// its corpus shard, and the query shards its block spans whole. The transfer
// is mostly waiting on the store, so it overlaps the other tile's search for
// little of its cores, and only the decoding is left for the tile's turn.
// (Decoding beside a search slowed the search by more than the decoding took
// alone.)
//
// Tiles that want one object share one fetch; its bytes go back to the pool
// when the last of them is done, by when they are decoded and cached.

// Fetched is one object's bytes, or why they could not be fetched.
type Fetched struct {
	RefCount
	key  string
	done chan struct{} // closed when data or Err is set
	data []byte
	Err  error
}

// Fetcher runs the fetches of a process, one per key at a time.
type Fetcher struct {
	mu     sync.Mutex
	active map[string]*Fetched
	pool   BufPool[byte]
}

// Get returns the bytes of key, fetched by fetch into a buffer of size bytes
// unless a fetch of key is under way or done and still held, which it then
// waits for. The caller must release what it gets.
func (f *Fetcher) Get(key string, size int64, fetch func(buf []byte) error) *Fetched {
	f.mu.Lock()
	o, ok := f.active[key]
	if !ok {
		if f.active == nil {
			f.active = map[string]*Fetched{}
		}
		o = &Fetched{key: key, done: make(chan struct{})}
		f.active[key] = o
	}
	o.Hold()
	f.mu.Unlock()
	if !ok {
		buf := f.pool.Get(int(size))
		if o.Err = fetch(buf); o.Err == nil {
			o.data = buf
		} else {
			f.pool.Put(buf)
		}
		close(o.done)
	}
	<-o.done
	return o
}

// Release lets go of o; the last user gives its buffer back to the pool.
func (f *Fetcher) Release(o *Fetched) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.Drop() {
		delete(f.active, o.key)
		if o.data != nil {
			f.pool.Put(o.data)
			o.data = nil
		}
	}
}

// ReleaseAll releases every object of set.
func (f *Fetcher) ReleaseAll(set FetchedSet) {
	for _, o := range set {
		f.Release(o)
	}
}

// FetchedSet holds the objects a tile Fetched, by name (URI prefix and key).
type FetchedSet map[string]*Fetched

// Bytes returns the bytes of name, or nil when they were not Fetched.
func (s FetchedSet) Bytes(name string) []byte {
	if o := s[name]; o != nil && o.Err == nil {
		return o.data
	}
	return nil
}

// Fetches counts the fetches done and still held.
func (f *Fetcher) Fetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, o := range f.active {
		select {
		case <-o.done:
			n++
		default:
		}
	}
	return n
}

// PooledBytes is the size of the buffer the Fetcher keeps for its next fetch.
func (f *Fetcher) PooledBytes() int {
	f.pool.mu.Lock()
	defer f.pool.mu.Unlock()
	return cap(f.pool.free)
}
