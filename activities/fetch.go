package activities

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// fetchTile fetches the objects tile in will read whole, unless its query
// block or its shard is cached or being read: the corpus shard, and the
// query shards whose rows all lie in the block (a shard of many blocks is
// read in part by each, from the store). The caller must release what it
// gets (ReleaseAll).
func (a *Activities) fetchTile(ctx context.Context, p *job.Plan, in workflows.TileInput, n needs) pipeline.FetchedSet {
	type object struct {
		uri  string
		info job.Shard
	}
	want := map[string]object{} // by name: in self mode a query shard is a corpus shard
	if !a.shards.Has(shardKey(p, in.Shard, n)) {
		info := p.Corpus[in.Shard]
		want[workflows.WithSlash(p.Spec.Corpus)+info.Key] = object{p.Spec.Corpus, info}
	}
	if lo, hi, err := p.BlockRange(in.Block); err == nil && !a.queries.Has(queryBlockKey(p, in.Block)) {
		shards, uri := p.QueryShards()
		for _, info := range shards {
			if lo <= info.First && info.First+info.Rows <= hi {
				want[workflows.WithSlash(uri)+info.Key] = object{uri, info}
			}
		}
	}
	set := pipeline.FetchedSet{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, obj := range want {
		wg.Go(func() {
			o := a.fetches.Get(p.Fingerprint+"\x00"+name, obj.info.Size, func(buf []byte) error {
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
func (a *Activities) openTileShard(ctx context.Context, uri string, info job.Shard, name string, spec workflows.Spec, raw pipeline.FetchedSet) (*dataset.Shard, func(), error) {
	if b := raw.Bytes(name); b != nil {
		obj := bytesObject{bytes.NewReader(b), storage.ObjectInfo{Key: info.Key, Size: info.Size, ETag: info.ETag}}
		return inputs.OpenFrom(obj, obj, info, name, spec)
	}
	st, err := a.store(ctx, uri)
	if err != nil {
		return nil, nil, err
	}
	return a.source().Open(ctx, st, info, name, spec)
}

// fetchObject reads the planned shard name of st whole into buf, which holds
// exactly its size. One ReadAt: the store splits a large read into ranged
// requests it sends in parallel (storage/s3).
func (a *Activities) fetchObject(ctx context.Context, st storage.Store, info job.Shard, name string, buf []byte) error {
	obj, err := inputs.OpenPlanned(ctx, st, info, name)
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
