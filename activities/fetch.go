package activities

import (
	"context"
	"sync"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/workflows"
)

// fetchTile fetches the objects tile in will read whole, unless its query
// block or its shard is cached or being read: the corpus shard, and the
// query shards whose rows all lie in the block (a shard of many blocks is
// read in part by each, from the store). The caller must release what it
// gets (ReleaseAll).
func (a *Activities) fetchTile(ctx context.Context, p *job.Plan, in workflows.TileInput, n reader.Needs) pipeline.FetchedSet {
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
				return reader.Fetch(ctx, a.source(), obj.uri, obj.info, name, buf)
			})
			mu.Lock()
			set[name] = o
			mu.Unlock()
		})
	}
	wg.Wait()
	return set
}
