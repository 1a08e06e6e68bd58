package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/hugepages"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/miner"
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

// shardData is what a tile needs of one shard.
type shardData struct {
	ids       dataset.IDs
	emb       miner.Matrix // normalised for cosine similarity
	labels    dataset.IDs  // labeled mode
	positives dataset.Lists
	bytes     int64
	// RefCount counts the users of emb (the cache, tiles); the last to let
	// go gives its buffer to pool, when set.
	pipeline.RefCount
	pool *pipeline.BufPool[float32]
}

// Release lets go of one user of the shard.
func (d *shardData) Release() {
	if d.Drop() && d.pool != nil {
		d.pool.Put(d.emb.Data)
		d.emb.Data = nil
	}
}

// needs says what a tile reads of a shard besides ids and embeddings.
type needs struct{ labels, positives bool }

// loadShard returns a corpus shard read whole, from a small per-process
// cache: the tiles of several query blocks against one shard tend to reach a
// worker one after another (each block's tiles go through the shards in
// order), and then read and decode it once.
//
// The caller must release the shard when done with it.
//
// The shard's bytes are decoded from raw when a waiting tile fetched them
// there (fetchTile), and read from the store otherwise.
func (a *Activities) loadShard(ctx context.Context, p *job.Plan, s int, n needs, raw pipeline.FetchedSet) (*shardData, error) {
	info := p.Corpus[s]
	a.shards.SetLimit(a.ShardCacheBytes)
	return a.shards.Get(shardKey(p, s, n), info.Rows*int64(p.Dim)*4, func() (*shardData, error) {
		d, err := a.readShardInto(ctx, p, p.Spec.Corpus, info, n, a.floats.Get(int(info.Rows)*p.Dim), raw)
		if d != nil {
			d.pool = &a.floats
		}
		return d, err
	})
}

// shardKey names corpus shard s of p's job, read with n, within this
// process (the shard cache).
func shardKey(p *job.Plan, s int, n needs) string {
	return fmt.Sprintf("%s\x00%s\x00%d\x00%v", p.Spec.Output, p.Fingerprint, s, n)
}

// readShard reads one shard whole.
func (a *Activities) readShard(ctx context.Context, p *job.Plan, uri string, info job.Shard, n needs) (*shardData, error) {
	return a.readShardInto(ctx, p, uri, info, n, nil, nil)
}

// readShardInto reads one shard whole, its embeddings into dst when it is
// large enough, from its bytes in raw when they are there.
func (a *Activities) readShardInto(ctx context.Context, p *job.Plan, uri string, info job.Shard, n needs, dst []float32, raw pipeline.FetchedSet) (*shardData, error) {
	name := workflows.WithSlash(uri) + info.Key
	sh, closer, err := a.openTileShard(ctx, uri, info, name, p.Spec, raw)
	if err != nil {
		return nil, err
	}
	defer closer()
	if sh.Dim() != p.Dim {
		return nil, invalid(fmt.Sprintf("%s: column %q: dimension %d, planned %d", name, p.Spec.EmbeddingColumn, sh.Dim(), p.Dim))
	}
	d := &shardData{}
	if d.ids, err = sh.ReadIDs(); err != nil {
		return nil, classify(fmt.Errorf("read ids of %s: %w", name, err))
	}
	data, err := sh.ReadEmbeddings(dst[:0])
	if err != nil {
		return nil, classify(fmt.Errorf("read embeddings of %s: %w", name, err))
	}
	d.emb = miner.Matrix{Rows: int(sh.Rows()), Dim: sh.Dim(), Data: data}
	if p.Spec.Similarity == "cosine" {
		miner.Normalize(d.emb)
	}
	if n.labels {
		if d.labels, err = sh.ReadLabels(); err != nil {
			return nil, classify(fmt.Errorf("read labels of %s: %w", name, err))
		}
	}
	if n.positives {
		if d.positives, err = sh.ReadPositives(); err != nil {
			return nil, classify(fmt.Errorf("read positives of %s: %w", name, err))
		}
	}
	d.bytes = int64(len(data)) * 4
	return d, nil
}

// queryBlock is the queries of one block, gathered from the query shards it
// spans.
type queryBlock struct {
	pipeline.RefCount       // the cache's and its users'
	first             int64 // global query row of row 0
	emb               miner.Matrix
	ids               []queryID
	labels            []labelValue
	positives         [][]queryID // positive corpus ids per query (pairs mode)
}

// Release lets go of a block handed out by loadQueryBlock.
func (q *queryBlock) Release() { q.Drop() }

// queryBlockKey names query block b of p's job within this process (the
// query block cache, pipeline.FloorBook).
func queryBlockKey(p *job.Plan, b int) string {
	return p.Spec.Output + "\x00" + p.Fingerprint + "\x00" + strconv.Itoa(b)
}

// loadQueryBlock returns block b's queries. Only the block's rows of the
// query shards are read (dataset's range readers skip the rest), straight
// into the block's matrix. Blocks are kept in a small per-process cache,
// since the tiles of one block tend to run on the same worker one after
// another.
//
// The caller must release the block when done with it.
func (a *Activities) loadQueryBlock(ctx context.Context, p *job.Plan, b int, raw pipeline.FetchedSet) (*queryBlock, error) {
	lo, hi, err := p.BlockRange(b)
	if err != nil {
		return nil, err
	}
	a.queries.SetLimit(a.QueryCacheBytes)
	return a.queries.Get(queryBlockKey(p, b), (hi-lo)*int64(p.Dim)*4, func() (*queryBlock, error) {
		return a.readQueryBlock(ctx, p, lo, hi, raw)
	})
}

// readQueryBlock reads the global query rows [lo, hi), from the shards'
// bytes in raw when they are there.
func (a *Activities) readQueryBlock(ctx context.Context, p *job.Plan, lo, hi int64, raw pipeline.FetchedSet) (*queryBlock, error) {
	shards, uri := p.QueryShards()
	qb := &queryBlock{first: lo, emb: miner.Matrix{Rows: int(hi - lo), Dim: p.Dim, Data: hugepages.Make[float32](int(hi-lo) * p.Dim)}}
	for _, info := range shards {
		from, to := max(lo, info.First), min(hi, info.First+info.Rows)
		if from >= to {
			continue
		}
		dst := qb.emb.Data[int(from-lo)*p.Dim : int(to-lo)*p.Dim]
		if err := a.readQueryRows(ctx, p, uri, info, from-info.First, to-info.First, dst, qb, raw); err != nil {
			return nil, err
		}
	}
	if p.Spec.Similarity == "cosine" {
		miner.Normalize(qb.emb)
	}
	return qb, nil
}

// readQueryRows reads rows [lo, hi) of one query shard: the embeddings into
// dst, the ids, labels and positives onto the ends of qb's.
func (a *Activities) readQueryRows(ctx context.Context, p *job.Plan, uri string, info job.Shard, lo, hi int64, dst []float32, qb *queryBlock, raw pipeline.FetchedSet) error {
	name := workflows.WithSlash(uri) + info.Key
	sh, closer, err := a.openTileShard(ctx, uri, info, name, p.Spec, raw)
	if err != nil {
		return err
	}
	defer closer()
	if sh.Dim() != p.Dim {
		return invalid(fmt.Sprintf("%s: column %q: dimension %d, planned %d", name, p.Spec.EmbeddingColumn, sh.Dim(), p.Dim))
	}
	if _, err := sh.ReadEmbeddingsRange(lo, hi, dst); err != nil {
		return classify(fmt.Errorf("read embeddings of %s: %w", name, err))
	}
	return readQueryColumns(sh, name, p.Spec.Mode(), lo, hi, idAt, &qb.ids, &qb.labels, &qb.positives)
}

// readQueryColumns appends rows [lo, hi) of an open query shard to ids, and
// to labels or positives as the mode needs them, each value converted by
// conv: MineTile keeps them typed, MergeBlock formatted.
func readQueryColumns[T any](sh *dataset.Shard, name string, mode workflows.Mode, lo, hi int64,
	conv func(dataset.IDs, int) T, ids *[]queryID, labels *[]T, positives *[][]T) error {
	got, err := sh.ReadIDsRange(lo, hi)
	if err != nil {
		return classify(fmt.Errorf("read ids of %s: %w", name, err))
	}
	for r := range got.Len() {
		*ids = append(*ids, idAt(got, r))
	}
	switch mode {
	case workflows.ModeLabeled:
		ls, err := sh.ReadLabelsRange(lo, hi)
		if err != nil {
			return classify(fmt.Errorf("read labels of %s: %w", name, err))
		}
		for r := range ls.Len() {
			*labels = append(*labels, conv(ls, r))
		}
	case workflows.ModePairs:
		pos, err := sh.ReadPositivesRange(lo, hi)
		if err != nil {
			return classify(fmt.Errorf("read positives of %s: %w", name, err))
		}
		for r := range pos.Len() {
			row := pos.Row(r)
			list := make([]T, row.Len())
			for i := range list {
				list[i] = conv(row, i)
			}
			*positives = append(*positives, list)
		}
	}
	return nil
}

// queryMeta is what MergeBlock needs of a block's queries: no embeddings.
type queryMeta struct {
	ids       []queryID
	positives [][]string // the input's positive ids, formatted (pairs mode)
	labels    []string   // formatted (labeled mode)
}

// loadQueryMeta reads the ids (and positives or labels) of block b's
// queries: only the block's rows of the query shards.
func (a *Activities) loadQueryMeta(ctx context.Context, p *job.Plan, b int) (*queryMeta, error) {
	shards, uri := p.QueryShards()
	st, err := a.store(ctx, uri)
	if err != nil {
		return nil, err
	}
	lo, hi, err := p.BlockRange(b)
	if err != nil {
		return nil, err
	}
	m := &queryMeta{}
	for _, info := range shards {
		from, to := max(lo, info.First), min(hi, info.First+info.Rows)
		if from >= to {
			continue
		}
		if err := a.readQueryMeta(ctx, st, p, uri, info, from-info.First, to-info.First, m); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// readQueryMeta reads rows [lo, hi) of one query shard onto the ends of m's.
func (a *Activities) readQueryMeta(ctx context.Context, st storage.Store, p *job.Plan, uri string, info job.Shard, lo, hi int64, m *queryMeta) error {
	name := workflows.WithSlash(uri) + info.Key
	sh, closer, err := a.source().Open(ctx, st, info, name, p.Spec)
	if err != nil {
		return err
	}
	defer closer()
	return readQueryColumns(sh, name, p.Spec.Mode(), lo, hi, idText, &m.ids, &m.labels, &m.positives)
}
