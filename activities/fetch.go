package activities

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// A tile waiting for its turn to read (MineTile) fetches meanwhile the bytes
// of the objects its read will read whole and no tile before it has read:
// its corpus shard, and the query shards its block spans whole. The transfer
// is mostly waiting on the store, so it overlaps the other tile's search for
// little of its cores, and only the decoding is left for the tile's turn.
// (Decoding beside a search slowed the search by more than the decoding took
// alone.)
//
// Tiles that want one object share one fetch; its bytes go back to the pool
// when the last of them is done, by when they are decoded and cached.

// fetched is one object's bytes, or why they could not be fetched.
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

// releaseAll releases every object of set.
func (f *fetcher) releaseAll(set fetchedSet) {
	for _, o := range set {
		f.release(o)
	}
}

// fetchedSet holds the objects a tile fetched, by name (URI prefix and key).
type fetchedSet map[string]*fetched

// bytes returns the bytes of name, or nil when they were not fetched.
func (s fetchedSet) bytes(name string) []byte {
	if o := s[name]; o != nil && o.err == nil {
		return o.data
	}
	return nil
}

// fetchTile fetches the objects tile in will read whole, unless its query
// block or its shard is cached or being read: the corpus shard, and the
// query shards whose rows all lie in the block (a shard of many blocks is
// read in part by each, from the store). The caller must release what it
// gets (releaseAll).
func (a *Activities) fetchTile(ctx context.Context, p *planFile, in workflows.TileInput, n needs) fetchedSet {
	type object struct {
		uri  string
		info shardInfo
	}
	want := map[string]object{} // by name: in self mode a query shard is a corpus shard
	if !a.shards.has(shardKey(p, in.Shard, n)) {
		info := p.Corpus[in.Shard]
		want[withSlash(p.Spec.Corpus)+info.Key] = object{p.Spec.Corpus, info}
	}
	if lo, hi, err := blockRange(p, in.Block); err == nil && !a.queries.has(queryBlockKey(p, in.Block)) {
		shards, uri := p.queryShards()
		for _, info := range shards {
			if lo <= info.First && info.First+info.Rows <= hi {
				want[withSlash(uri)+info.Key] = object{uri, info}
			}
		}
	}
	set := fetchedSet{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, obj := range want {
		wg.Go(func() {
			o := a.fetches.get(p.Fingerprint+"\x00"+name, obj.info.Size, func(buf []byte) error {
				st, err := a.store(ctx, obj.uri)
				if err != nil {
					return err
				}
				return a.fetchObject(ctx, st, obj.info, name, buf)
			})
			mu.Lock()
			set[name] = o
			mu.Unlock()
		})
	}
	wg.Wait()
	return set
}

// openTileShard opens a shard a tile reads: from its bytes in raw when they
// are there, from the store otherwise.
func (a *Activities) openTileShard(ctx context.Context, uri string, info shardInfo, name string, spec workflows.Spec, raw fetchedSet) (*dataset.Shard, func(), error) {
	if b := raw.bytes(name); b != nil {
		obj := bytesObject{bytes.NewReader(b), storage.ObjectInfo{Key: info.Key, Size: info.Size, ETag: info.ETag}}
		return openFrom(obj, obj, info, name, spec)
	}
	st, err := a.store(ctx, uri)
	if err != nil {
		return nil, nil, err
	}
	return a.openShard(ctx, st, info, name, spec)
}

// fetchObject reads the planned shard name of st whole into buf, which holds
// exactly its size. One ReadAt: the store splits a large read into ranged
// requests it sends in parallel (storage/s3).
func (a *Activities) fetchObject(ctx context.Context, st storage.Store, info shardInfo, name string, buf []byte) error {
	obj, err := openPlanned(ctx, st, info, name)
	if err != nil {
		return err
	}
	defer obj.Close()
	if n, err := a.counting(obj).ReadAt(buf, 0); n < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("fetch %s: %d of %d bytes: %w", name, n, len(buf), err)
	}
	return nil
}

// bytesObject serves a fetched shard's bytes as a storage.Object.
type bytesObject struct {
	*bytes.Reader
	info storage.ObjectInfo
}

func (o bytesObject) Close() error             { return nil }
func (o bytesObject) Info() storage.ObjectInfo { return o.info }
