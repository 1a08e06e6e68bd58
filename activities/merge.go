package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// MergeBlock merges the partials of one query block over every corpus shard
// into each query's result over the whole corpus, applies the filters and the
// rank window, and writes the candidate windows to
// _work/<fingerprint>/block-bNNNNN.ckpt (job.BlockKey) for Rebalance. A block whose file
// exists is skipped.
func (a *Activities) MergeBlock(ctx context.Context, in workflows.MergeInput) (_ workflows.MergeResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	res := workflows.MergeResult{Block: in.Block}
	if err := a.checkAllowed(in.Spec); err != nil {
		return res, err
	}
	p, out, err := a.loadPlan(ctx, in.Spec, in.Fingerprint)
	if err != nil {
		return res, err
	}
	if in.Block < 0 || in.Block >= p.Blocks {
		return res, invalid(fmt.Sprintf("block %d is outside the plan's %d blocks", in.Block, p.Blocks))
	}
	key := job.BlockKey(p.Fingerprint, in.Block)
	if ok, err := exists(ctx, out, key); err != nil || ok {
		res.Skipped = ok
		lo, hi := workflows.BlockRange(p.Spec, p.QueryRows, in.Block)
		res.Queries = hi - lo
		return res, err
	}
	sel, err := p.Selection()
	if err != nil {
		return res, classify(err)
	}
	freeMemory, err := a.waitForMemory(ctx, "merge", admissionJob(p, sel).Estimate().Merge)
	if err != nil {
		return res, err
	}
	defer freeMemory()
	meta, err := reader.ReadQueryMeta(ctx, a.source(), p, in.Block)
	if err != nil {
		return res, err
	}
	nq := len(meta.IDs)
	merged := make([]miner.Partial, nq)
	tables := make([]*checkpoint.IDTable, len(p.Corpus))
	// The partials are read and decoded mergeAhead at a time while the ones
	// before them are merged, the queries split over the cores.
	for lo := 0; lo < len(p.Corpus); lo += mergeAhead {
		hi := min(lo+mergeAhead, len(p.Corpus))
		partials := make([][]miner.Partial, hi-lo)
		g, gctx := errgroup.WithContext(ctx)
		for s := lo; s < hi; s++ {
			g.Go(func() (err error) {
				partials[s-lo], tables[s], err = a.readPartial(gctx, out, p, in.Block, s, nq)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return res, err
		}
		for _, shardPartials := range partials {
			forChunks(nq, func(qlo, qhi int) {
				for q := qlo; q < qhi; q++ {
					merged[q] = miner.Merge(sel.PoolSize(), merged[q], shardPartials[q])
				}
			})
		}
		checkpoint.PruneTables(tables[:hi], merged, p.CorpusRows)
		beat(ctx, "merged shards", hi)
	}

	qws, short := blockWindows(p, sel, meta, merged)
	res.Short = short
	names, err := windowIDs(qws, p.Corpus, tables)
	if err != nil {
		return res, fmt.Errorf("merge block %d: %w", in.Block, err)
	}
	if err := out.Put(ctx, key, bytes.NewReader(checkpoint.EncodeWindows(qws, names))); err != nil {
		return res, fmt.Errorf("write %s: %w", key, err)
	}
	res.Queries = int64(nq)
	a.count(MetricBlocksMerged, nil, 1)
	return res, nil
}

// mergeAhead is how many partials MergeBlock reads at once.
const mergeAhead = 2

// readPartial reads the partial of tile (block, shard).
func (a *Activities) readPartial(ctx context.Context, out storage.Store, p *job.Plan, block, shard, nq int) ([]miner.Partial, *checkpoint.IDTable, error) {
	tk := job.TileKey(p.Fingerprint, block, shard)
	data, err := storage.ReadAll(ctx, out, tk)
	if errors.Is(err, storage.ErrNotExist) {
		return nil, nil, fmt.Errorf("merge block %d: partial %s is missing", block, tk)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", tk, err)
	}
	return checkpoint.DecodePartials(data, tk, nq)
}

// forChunks calls f on [lo, hi) chunks of [0, n), one per core, at once.
func forChunks(n int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	size := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += size {
		wg.Go(func() { f(lo, min(lo+size, n)) })
	}
	wg.Wait()
}

// windowIDs builds the id table of a block's windows from the id tables of
// the shards' partials.
func windowIDs(qws []checkpoint.QueryWindow, shards []job.Shard, tables []*checkpoint.IDTable) (*checkpoint.IDTable, error) {
	var corpusRows int64
	if n := len(shards); n > 0 {
		corpusRows = shards[n-1].First + shards[n-1].Rows
	}
	set := checkpoint.NewRowSet(0, corpusRows)
	var bad error
	for _, qw := range qws {
		checkpoint.EachWindowRow(qw.Win, func(r int64) error {
			if !set.Add(r) {
				bad = fmt.Errorf("row %d is in no corpus shard", r)
			}
			return bad
		})
	}
	if bad != nil {
		return nil, bad
	}
	rows := set.Rows()
	names := &checkpoint.IDTable{Rows: rows, IDs: make([]string, len(rows))}
	s := 0
	for i, r := range rows {
		for s < len(shards) && r >= shards[s].First+shards[s].Rows {
			s++
		}
		if s == len(shards) || r < shards[s].First {
			return nil, fmt.Errorf("row %d is in no corpus shard", r)
		}
		id, ok := tables[s].ID(r)
		if !ok {
			return nil, fmt.Errorf("row %d has no id in the partial of shard %d", r, s)
		}
		names.IDs[i] = id
	}
	return names, nil
}

// blockWindows selects each merged query's window (its hard and easy
// negatives) and counts the queries whose hard negatives ran short.
func blockWindows(p *job.Plan, sel miner.Selection, meta *reader.QueryMeta, merged []miner.Partial) ([]checkpoint.QueryWindow, int64) {
	seeds := querySeeds(p, meta.IDs)
	qws := make([]checkpoint.QueryWindow, len(merged))
	var short int64
	for q := range qws {
		win := sel.Window(merged[q], seeds[q])
		qws[q] = checkpoint.QueryWindow{ID: meta.IDs[q].Format(p.QueryIDKind), Win: win}
		if meta.Positives != nil {
			qws[q].Positives = meta.Positives[q]
		}
		if meta.Labels != nil {
			qws[q].Label = meta.Labels[q]
		}
		if len(win.Hard) < sel.NumNegatives {
			short++
		}
	}
	return qws, short
}
