package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// MergeBlock merges the partials of one query block over every corpus shard
// into each query's result over the whole corpus, applies the filters and the
// rank window, and writes the candidate windows to
// _work/<fingerprint>/block-bBBBBB.parquet for Rebalance. A block whose file
// exists is skipped.
func (a *Activities) MergeBlock(ctx context.Context, in workflows.MergeInput) (_ workflows.MergeResult, err error) {
	defer func() { err = classify(err) }()
	res := workflows.MergeResult{Block: in.Block}
	p, out, err := a.loadPlan(ctx, in.Spec, in.Fingerprint)
	if err != nil {
		return res, err
	}
	if in.Block < 0 || in.Block >= p.Blocks {
		return res, invalid(fmt.Sprintf("block %d is outside the plan's %d blocks", in.Block, p.Blocks))
	}
	key := BlockKey(p.Fingerprint, in.Block)
	if ok, err := exists(ctx, out, key); err != nil || ok {
		res.Skipped = ok
		res.Queries = blockRows(p, in.Block)
		return res, err
	}
	mp, err := p.minerPlan()
	if err != nil {
		return res, classify(err)
	}
	meta, err := a.loadQueryMeta(ctx, p, in.Block)
	if err != nil {
		return res, err
	}
	nq := len(meta.ids)
	merged := make([]miner.Partial, nq)
	ids := make([]rowIDs, nq)
	// Sized for what prune lets a map hold, so that it never rehashes: growing
	// tens of thousands of small maps was a third of a merge's time.
	size := 2*(mp.PoolSize()+mp.EasyDraws()) + 16
	for q := range ids {
		ids[q] = make(rowIDs, size)
	}
	for s := range p.Corpus {
		tk := TileKey(p.Fingerprint, in.Block, s)
		data, err := storage.ReadAll(ctx, out, tk)
		if errors.Is(err, storage.ErrNotExist) {
			return res, fmt.Errorf("merge block %d: partial %s is missing", in.Block, tk)
		}
		if err != nil {
			return res, fmt.Errorf("read %s: %w", tk, err)
		}
		parts, err := readPartials(data, tk, ids)
		if err != nil {
			return res, err
		}
		for q := range merged {
			merged[q] = miner.Merge(mp.PoolSize(), merged[q], parts[q])
			ids[q].prune(merged[q])
		}
		beat(ctx, "merged shard", s)
	}

	seeds := querySeeds(p, meta.ids)
	qws := make([]queryWindow, nq)
	for q := range qws {
		win := mp.Window(merged[q], seeds[q])
		qws[q] = queryWindow{ID: meta.ids[q].format(p.QueryIDKind), Win: win, IDs: ids[q]}
		if meta.positives != nil {
			qws[q].Positives = meta.positives[q]
		}
		if meta.labels != nil {
			qws[q].Label = meta.labels[q]
		}
		if len(win.Hard) < mp.NumNegatives {
			res.Short++
		}
	}
	var buf bytes.Buffer
	if err := writeWindows(&buf, qws); err != nil {
		return res, fmt.Errorf("encode windows of block %d: %w", in.Block, err)
	}
	if err := out.Put(ctx, key, &buf); err != nil {
		return res, fmt.Errorf("write %s: %w", key, err)
	}
	res.Queries = int64(nq)
	a.count(MetricBlocksMerged, nil, 1)
	return res, nil
}

// prune drops the ids of rows no longer in p, once they outnumber the kept
// ones, so that a block's id maps stay the size of its merged results.
func (m rowIDs) prune(p miner.Partial) {
	keep := len(p.Top) + len(p.Positives) + len(p.Easy)
	if len(m) <= 2*keep+16 {
		return
	}
	live := make(map[int64]bool, keep)
	for _, c := range p.Top {
		live[c.Row] = true
	}
	for _, c := range p.Positives {
		live[c.Row] = true
	}
	for _, d := range p.Easy {
		live[d.Row] = true
	}
	for r := range m {
		if !live[r] {
			delete(m, r)
		}
	}
}

func blockRows(p *planFile, b int) int64 {
	lo := int64(b) * int64(p.Spec.QueryBlockRows)
	return min(int64(p.Spec.QueryBlockRows), p.QueryRows-lo)
}
