package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// countingReader counts the bytes read through it into the bytes-read metric.
type countingReader struct {
	r io.ReaderAt
	a *Activities
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	c.a.count(MetricBytesRead, nil, float64(n))
	return n, err
}

func (a *Activities) counting(r io.ReaderAt) io.ReaderAt { return &countingReader{r: r, a: a} }

// loadPlan returns the plan of a job (cached per process) and its output store.
func (a *Activities) loadPlan(ctx context.Context, spec workflows.Spec, fp string) (*job.Plan, storage.Store, error) {
	out, err := a.store(ctx, spec.Output)
	if err != nil {
		return nil, nil, err
	}
	cacheKey := spec.Output + "\x00" + fp
	a.mu.Lock()
	p, ok := a.plans[cacheKey]
	a.mu.Unlock()
	if ok {
		return p, out, nil
	}
	data, err := storage.ReadAll(ctx, out, job.PlanKey(fp))
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			return nil, nil, invalid(fmt.Sprintf("%s%s: the plan is missing (was _work/ removed during the job?)", workflows.WithSlash(spec.Output), job.PlanKey(fp)))
		}
		return nil, nil, fmt.Errorf("read plan: %w", err)
	}
	p = new(job.Plan)
	if err := json.Unmarshal(data, p); err != nil {
		return nil, nil, fmt.Errorf("decode plan %s: %w", job.PlanKey(fp), err)
	}
	if p.Format != job.Format || p.Fingerprint != fp {
		return nil, nil, invalid(fmt.Sprintf("%s: plan of format %d, fingerprint %s; want %d, %s",
			job.PlanKey(fp), p.Format, p.Fingerprint, job.Format, fp))
	}
	a.mu.Lock()
	if a.plans == nil {
		a.plans = map[string]*job.Plan{}
	}
	a.plans[cacheKey] = p
	a.mu.Unlock()
	return p, out, nil
}

// loadShard returns a corpus shard read whole, from a small per-process
// cache: the tiles of several query blocks against one shard tend to reach a
// worker one after another (each block's tiles go through the shards in
// order), and then read and decode it once.
//
// The caller must release the shard when done with it.
//
// The shard's bytes are decoded from raw when a waiting tile fetched them
// there (fetchTile), and read from the store otherwise.
func (a *Activities) loadShard(ctx context.Context, p *job.Plan, s int, n reader.Needs, raw pipeline.FetchedSet) (*reader.Shard, error) {
	info := p.Corpus[s]
	a.shards.SetLimit(a.ShardCacheBytes)
	return a.shards.Get(shardKey(p, s, n), info.Rows*int64(p.Dim)*4, func() (*reader.Shard, error) {
		d, err := reader.ReadShard(ctx, a.source(), p, p.Spec.Corpus, info, n, a.floats.Get(int(info.Rows)*p.Dim), raw)
		if d != nil {
			d.Pool = &a.floats
		}
		return d, err
	})
}

// shardKey names corpus shard s of p's job, read with n, within this
// process (the shard cache).
func shardKey(p *job.Plan, s int, n reader.Needs) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%v", p.Spec.Output, p.Fingerprint, s, n)
}

// queryBlockKey names query block b of p's job within this process (the
// query block cache, pipeline.FloorBook).
func queryBlockKey(p *job.Plan, b int) string {
	return p.Spec.Output + "\x00" + p.Fingerprint + "\x00" + strconv.Itoa(b)
}

// loadQueryBlock returns block b's queries (reader.ReadQueryBlock). Blocks
// are kept in a small per-process cache,
// since the tiles of one block tend to run on the same worker one after
// another.
//
// The caller must release the block when done with it.
func (a *Activities) loadQueryBlock(ctx context.Context, p *job.Plan, b int, raw pipeline.FetchedSet) (*reader.QueryBlock, error) {
	lo, hi, err := p.BlockRange(b)
	if err != nil {
		return nil, err
	}
	a.queries.SetLimit(a.QueryCacheBytes)
	return a.queries.Get(queryBlockKey(p, b), (hi-lo)*int64(p.Dim)*4, func() (*reader.QueryBlock, error) {
		return reader.ReadQueryBlock(ctx, a.source(), p, lo, hi, raw)
	})
}
