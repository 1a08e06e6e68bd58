package reader

import (
	"context"
	"fmt"
	"slices"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/workflows"
)

// BlockTexts reads the texts a block's part needs: its queries' (global
// query rows [lo, hi)) and those of the corpus rows docs, in any order and
// repeated or not.
func BlockTexts(ctx context.Context, src inputs.Source, p *job.Plan, lo, hi int64, docs []int64) (queries, corpus map[int64]string, err error) {
	qrows := make([]int64, 0, hi-lo)
	for r := lo; r < hi; r++ {
		qrows = append(qrows, r)
	}
	qshards, quri := p.QueryShards()
	if queries, err = readTexts(ctx, src, p, qshards, quri, qrows); err != nil {
		return nil, nil, err
	}
	crows := slices.Clone(docs)
	slices.Sort(crows)
	corpus, err = readTexts(ctx, src, p, p.Corpus, p.Spec.Corpus, slices.Compact(crows))
	return queries, corpus, err
}

// readTexts reads the texts of the given global rows of the shards under
// uri, opening only the shards that hold them. rows must be sorted and
// distinct. What it holds is the texts asked for, and one page per shard.
func readTexts(ctx context.Context, src inputs.Source, p *job.Plan, shards []job.Shard, uri string, rows []int64) (map[int64]string, error) {
	texts := make(map[int64]string, len(rows))
	if len(rows) == 0 {
		return texts, nil
	}
	err := eachShardRows(ctx, src, p, shards, uri, rows, func(sh *dataset.Shard, name string, first int64, rows []int64) error {
		local := make([]int64, len(rows))
		for i, r := range rows {
			local[i] = r - first
		}
		got, err := sh.ReadTexts(local)
		if err != nil {
			return fmt.Errorf("read texts of %s: %w", name, err)
		}
		for i, r := range rows {
			texts[r] = got[i]
		}
		return nil
	})
	return texts, err
}

// CorpusIDs reads the ids of a few global corpus rows, in any order,
// opening only the shards that hold them.
func CorpusIDs(ctx context.Context, src inputs.Source, p *job.Plan, rows []int64) (map[int64]string, error) {
	ids := map[int64]string{}
	sorted := slices.Sorted(slices.Values(rows))
	err := eachShardRows(ctx, src, p, p.Corpus, p.Spec.Corpus, sorted, func(sh *dataset.Shard, name string, first int64, rows []int64) error {
		col, err := sh.ReadIDs()
		if err != nil {
			return fmt.Errorf("read ids of %s: %w", name, err)
		}
		for _, r := range rows {
			ids[r] = IDText(col, int(r-first))
		}
		return nil
	})
	return ids, err
}

// eachShardRows opens, one after another, the shards under uri that hold
// some of the sorted global rows, and calls read with each open shard, its
// name, its first global row and those of rows it holds.
func eachShardRows(ctx context.Context, src inputs.Source, p *job.Plan, shards []job.Shard, uri string, rows []int64,
	read func(sh *dataset.Shard, name string, first int64, rows []int64) error) error {
	st, err := src.Store(ctx, uri)
	if err != nil {
		return err
	}
	for _, info := range shards {
		lo, _ := slices.BinarySearch(rows, info.First)
		hi, _ := slices.BinarySearch(rows, info.First+info.Rows)
		if lo == hi {
			continue
		}
		name := workflows.WithSlash(uri) + info.Key
		sh, closer, err := src.Open(ctx, st, info, name, p.Spec)
		if err != nil {
			return err
		}
		err = read(sh, name, info.First, rows[lo:hi])
		closer()
		if err != nil {
			return err
		}
	}
	return nil
}
