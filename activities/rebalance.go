package activities

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/manifest"
	"github.com/hardneg/hardneg/internal/part"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Rebalance takes every query's negatives from its window in global query
// order, so that max_negative_frequency holds across the epoch whatever the
// blocks, adds the easy negatives, and writes part-NNNNN.parquet for each
// block. It leaves the statistics in _work/<fingerprint>/stats.json.
// Rewriting a part after a retry gives the same bytes.
//
// With in.Follow it runs beside the mine phase: it takes the blocks in order
// as they are merged, waiting for each one's candidates, so that only the
// last blocks' parts are left to write when the last tile is mined. The
// parts are the same, since the picks follow query order either way.
func (a *Activities) Rebalance(ctx context.Context, in workflows.RebalanceInput) (_ workflows.RebalanceResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	var res workflows.RebalanceResult
	if err := a.checkAllowed(in.Spec); err != nil {
		return res, err
	}
	p, out, err := a.loadPlan(ctx, in.Spec, in.Fingerprint)
	if err != nil {
		return res, err
	}
	sel, err := p.Selection()
	if err != nil {
		return res, classify(err)
	}
	picker := sel.NewPicker()
	stats := &miner.Stats{}
	var sf manifest.Stats
	for b := range p.Blocks {
		key := job.BlockKey(p.Fingerprint, b)
		qws, err := blockCandidates(ctx, out, key, in.Follow, cmp.Or(a.FollowEvery, followEvery))
		if err != nil {
			return res, err
		}
		beat(ctx, "rebalance", key) // working, no longer waiting (workflows.WaitingHeartbeat)
		rows, docs := make([]dataset.PartRow, len(qws)), make([]part.Docs, len(qws))
		for q, qw := range qws {
			row := picker.Pick(qw.Win)
			stats.Add(row, sel.NumNegatives, sel.NumNegatives+sel.EasyNegatives)
			if rows[q], docs[q], err = part.Row(qw, row); err != nil {
				return res, fmt.Errorf("%s: query %d: %w", key, q, err)
			}
			sf.MissingPositives += missingPositives(qw.Positives, rows[q].PositiveIDs)
			sf.PossibleRows += part.PossibleRows(p.Spec, len(rows[q].PositiveIDs))
		}
		n, err := a.writePart(ctx, p, out, b, rows, docs)
		if err != nil {
			return res, err
		}
		res.Rows += n
		beat(ctx, "part", b)
	}
	res.Parts = p.Blocks
	res.HardNegatives, res.EasyNegatives = int64(stats.Negative.Len()), int64(stats.Easy.Len())
	res.Capped, res.Short = stats.Capped, stats.ShortHard

	top := stats.MostFrequent(manifest.MostFrequentShown)
	rows := make([]int64, len(top))
	for i, f := range top {
		rows[i] = f.Row
	}
	ids, err := reader.CorpusIDs(ctx, a.source(), p, rows)
	if err != nil {
		return res, err
	}
	sf.Summarise(stats, sel, top, ids)
	sf.Rows, sf.Parts, sf.HardNegatives, sf.EasyNegatives = res.Rows, res.Parts, res.HardNegatives, res.EasyNegatives
	data, err := json.MarshalIndent(sf, "", "  ")
	if err != nil {
		return res, err
	}
	if err := out.Put(ctx, job.StatsKey(p.Fingerprint), bytes.NewReader(data)); err != nil {
		return res, fmt.Errorf("write statistics: %w", err)
	}
	return res, nil
}

// missingPositives counts the distinct ids of a query's input positives that
// its output row lacks: those not in the corpus. An id listed twice is one
// positive, output once, so it must not count as missing.
func missingPositives(input, found []string) int64 {
	seen := make(map[string]bool, len(input)+len(found))
	for _, id := range found {
		seen[id] = true
	}
	var n int64
	for _, id := range input {
		if !seen[id] {
			seen[id] = true
			n++
		}
	}
	return n
}

// followEvery is Activities.FollowEvery's default.
const followEvery = 100 * time.Millisecond

// followFailures is how many looks in a row may fail with an error worth
// retrying (throttled, a 5xx, a reset the SDK gave up on) before Rebalance
// fails: a GET every 100 ms through a whole mine phase meets such errors,
// and failing the activity on each would start it again from block 0.
const followFailures = 25

// blockCandidates reads and decodes a block's merged candidates at key. With
// follow, a block not merged yet is looked for again every so often,
// heartbeating, until it is or ctx ends, and a failed look is tried again
// (followFailures); without, a missing block is an error.
func blockCandidates(ctx context.Context, out storage.Store, key string, follow bool, every time.Duration) ([]checkpoint.QueryWindow, error) {
	failed := 0 // looks in a row that failed
	for {
		data, err := storage.ReadAll(ctx, out, key)
		switch {
		case err == nil:
			return checkpoint.DecodeWindows(data, key)
		case errors.Is(err, storage.ErrNotExist) && !follow:
			return nil, fmt.Errorf("rebalance: candidates %s are missing", key)
		case errors.Is(err, storage.ErrNotExist):
			failed = 0
		case follow && storage.Classify(err).Retry() && failed < followFailures && ctx.Err() == nil:
			failed++
		default:
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		beat(ctx, workflows.WaitingHeartbeat, key)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for %s: %w", key, ctx.Err())
		case <-time.After(every):
		}
	}
}
