package reader

import (
	"context"

	"fmt"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/hugepages"
	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/workflows"
)

// QueryBlock is the queries of one block, gathered from the query shards it
// spans.
type QueryBlock struct {
	pipeline.RefCount       // a cache's and its users'
	First             int64 // global query row of row 0
	Emb               miner.Matrix
	IDs               []ID
	Labels            []ID
	Positives         [][]ID // positive corpus ids per query (pairs mode)
}

// Release lets go of one user of the block.
func (q *QueryBlock) Release() { q.Drop() }

// ReadQueryBlock reads the global query rows [lo, hi), from the shards'
// bytes in raw when they are there. Only those rows of the query shards are
// read (dataset's range readers skip the rest), straight into the block's
// matrix.
func ReadQueryBlock(ctx context.Context, src inputs.Source, p *job.Plan, lo, hi int64, raw pipeline.FetchedSet) (*QueryBlock, error) {
	shards, uri := p.QueryShards()
	qb := &QueryBlock{First: lo, Emb: miner.Matrix{Rows: int(hi - lo), Dim: p.Dim, Data: hugepages.Make[float32](int(hi-lo) * p.Dim)}}
	for _, info := range shards {
		from, to := max(lo, info.First), min(hi, info.First+info.Rows)
		if from >= to {
			continue
		}
		dst := qb.Emb.Data[int(from-lo)*p.Dim : int(to-lo)*p.Dim]
		if err := readQueryRows(ctx, src, p, uri, info, from-info.First, to-info.First, dst, qb, raw); err != nil {
			return nil, err
		}
	}
	if p.Spec.Similarity == "cosine" {
		miner.Normalize(qb.Emb)
	}
	return qb, nil
}

// readQueryRows reads rows [lo, hi) of one query shard: the embeddings into
// dst, the ids, labels and positives onto the ends of qb's.
func readQueryRows(ctx context.Context, src inputs.Source, p *job.Plan, uri string, info job.Shard, lo, hi int64, dst []float32, qb *QueryBlock, raw pipeline.FetchedSet) error {
	name := workflows.WithSlash(uri) + info.Key
	sh, closer, err := open(ctx, src, uri, info, name, p.Spec, raw)
	if err != nil {
		return err
	}
	defer closer()
	if err := checkDim(p, sh, name); err != nil {
		return err
	}
	if _, err := sh.ReadEmbeddingsRange(lo, hi, dst); err != nil {
		return fmt.Errorf("read embeddings of %s: %w", name, err)
	}
	return readQueryColumns(sh, name, p.Spec.Mode(), lo, hi, IDAt, &qb.IDs, &qb.Labels, &qb.Positives)
}

// readQueryColumns appends rows [lo, hi) of an open query shard to ids, and
// to labels or positives as the mode needs them, each value converted by
// conv: a QueryBlock keeps them typed, a QueryMeta formatted.
func readQueryColumns[T any](sh *dataset.Shard, name string, mode workflows.Mode, lo, hi int64,
	conv func(dataset.IDs, int) T, ids *[]ID, labels *[]T, positives *[][]T) error {
	got, err := sh.ReadIDsRange(lo, hi)
	if err != nil {
		return fmt.Errorf("read ids of %s: %w", name, err)
	}
	for r := range got.Len() {
		*ids = append(*ids, IDAt(got, r))
	}
	switch mode {
	case workflows.ModeLabeled:
		ls, err := sh.ReadLabelsRange(lo, hi)
		if err != nil {
			return fmt.Errorf("read labels of %s: %w", name, err)
		}
		for r := range ls.Len() {
			*labels = append(*labels, conv(ls, r))
		}
	case workflows.ModePairs:
		pos, err := sh.ReadPositivesRange(lo, hi)
		if err != nil {
			return fmt.Errorf("read positives of %s: %w", name, err)
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

// QueryMeta is what MergeBlock needs of a block's queries: no embeddings.
type QueryMeta struct {
	IDs       []ID
	Positives [][]string // the input's positive ids, formatted (pairs mode)
	Labels    []string   // formatted (labeled mode)
}

// ReadQueryMeta reads the ids (and positives or labels) of block b's
// queries: only the block's rows of the query shards.
func ReadQueryMeta(ctx context.Context, src inputs.Source, p *job.Plan, b int) (*QueryMeta, error) {
	shards, uri := p.QueryShards()
	st, err := src.Store(ctx, uri)
	if err != nil {
		return nil, err
	}
	lo, hi, err := p.BlockRange(b)
	if err != nil {
		return nil, err
	}
	m := &QueryMeta{}
	for _, info := range shards {
		from, to := max(lo, info.First), min(hi, info.First+info.Rows)
		if from >= to {
			continue
		}
		name := workflows.WithSlash(uri) + info.Key
		sh, closer, err := src.Open(ctx, st, info, name, p.Spec)
		if err != nil {
			return nil, err
		}
		err = readQueryColumns(sh, name, p.Spec.Mode(), from-info.First, to-info.First, IDText, &m.IDs, &m.Labels, &m.Positives)
		closer()
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}
