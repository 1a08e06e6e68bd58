package activities

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/storage"
)

// A tile waiting for its turn to read (MineTile) fetches meanwhile the bytes
// of a corpus shard no earlier tile has read: the transfer is mostly waiting
// on the store, so it overlaps the other tile's search for little of its
// cores, and only the decoding is left for the tile's turn. (Decoding beside
// a search slowed the search by more than the decoding took alone.)
//
// Tiles of one shard share one fetch; its bytes go back to the pool when the
// last of them is done, by when the shard is decoded and cached.

// fetched is one shard's bytes, or why they could not be fetched.
type fetched struct {
	refCount
	key  string
	done chan struct{} // closed when data or err is set
	data []byte
	err  error
}

// fetcher runs the fetches of a process, one per key at a time.
type fetcher struct {
	mu     sync.Mutex
	active map[string]*fetched
	pool   bufPool[byte]
}

// get returns the bytes of key, fetched by fetch into a buffer of size bytes
// unless a fetch of key is under way or done and still held, which it then
// waits for. The caller must release what it gets.
func (f *fetcher) get(key string, size int64, fetch func(buf []byte) error) *fetched {
	f.mu.Lock()
	o, ok := f.active[key]
	if !ok {
		if f.active == nil {
			f.active = map[string]*fetched{}
		}
		o = &fetched{key: key, done: make(chan struct{})}
		f.active[key] = o
	}
	o.hold()
	f.mu.Unlock()
	if !ok {
		buf := f.pool.get(int(size))
		if o.err = fetch(buf); o.err == nil {
			o.data = buf
		} else {
			f.pool.put(buf)
		}
		close(o.done)
	}
	<-o.done
	return o
}

// release lets go of o; the last user gives its buffer back to the pool.
func (f *fetcher) release(o *fetched) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if o.drop() {
		delete(f.active, o.key)
		if o.data != nil {
			f.pool.put(o.data)
			o.data = nil
		}
	}
}

// fetchParts is how many byte ranges of one object a fetch reads at once,
// and fetchPartSize their size: an object store serves a large object
// faster over several connections.
const (
	fetchParts    = 4
	fetchPartSize = 8 << 20
)

// fetchObject reads the planned shard name of st whole into buf, which holds
// exactly its size.
func (a *Activities) fetchObject(ctx context.Context, st storage.Store, info shardInfo, name string, buf []byte) error {
	obj, err := openPlanned(ctx, st, info, name)
	if err != nil {
		return err
	}
	defer obj.Close()
	r := a.counting(obj)
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(fetchParts)
	for off := 0; off < len(buf); off += fetchPartSize {
		part := buf[off:min(off+fetchPartSize, len(buf))]
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if n, err := r.ReadAt(part, int64(off)); n < len(part) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fmt.Errorf("fetch %s at byte %d: %w", name, off, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// bytesObject serves a fetched shard's bytes as a storage.Object.
type bytesObject struct {
	*bytes.Reader
	info storage.ObjectInfo
}

func (o bytesObject) Close() error             { return nil }
func (o bytesObject) Info() storage.ObjectInfo { return o.info }
