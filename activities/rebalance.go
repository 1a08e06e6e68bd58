package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/checkpoint"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/manifest"
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
		data, err := storage.ReadAll(ctx, out, key)
		if errors.Is(err, storage.ErrNotExist) {
			return res, fmt.Errorf("rebalance: candidates %s are missing", key)
		}
		if err != nil {
			return res, fmt.Errorf("read %s: %w", key, err)
		}
		qws, err := checkpoint.DecodeWindows(data, key)
		if err != nil {
			return res, err
		}
		rows, docs := make([]dataset.PartRow, len(qws)), make([]docRows, len(qws))
		for q, qw := range qws {
			row := picker.Pick(qw.Win)
			stats.Add(row, sel.NumNegatives, sel.NumNegatives+sel.EasyNegatives)
			if rows[q], docs[q], err = outputRow(qw, row); err != nil {
				return res, fmt.Errorf("%s: query %d: %w", key, q, err)
			}
			sf.MissingPositives += missingPositives(qw.Positives, rows[q].PositiveIDs)
			sf.PossibleRows += possibleRows(p.Spec, len(rows[q].PositiveIDs))
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

// possibleRows is how many rows a query with positives found in the corpus
// would give in the spec's format if none were short of negatives, counted
// as hard_negatives.py counts its "maximum possible samples": rows_possible
// less rows is the rows lost for want of negatives. The grouped format has
// one row per query.
func possibleRows(s workflows.Spec, positives int) int64 {
	k := int64(s.NumNegatives + s.EasyNegatives)
	switch s.OutputFormat {
	case "triplet":
		return int64(positives) * k
	case "labeled-pair":
		if positives == 0 {
			return 0
		}
		return int64(positives) + k
	case "n-tuple", "labeled-list":
		return int64(positives)
	}
	return 1
}

// outputRow joins a query's picked row with the ids its window carries, and
// says which corpus rows its documents are. The positives are those of the
// input found in the corpus, in input order.
func outputRow(qw checkpoint.QueryWindow, row miner.Row) (dataset.PartRow, docRows, error) {
	r := dataset.PartRow{QueryID: qw.ID}
	var d docRows
	r.NegativeScores, r.NegativeKinds, r.NegativeRanks = negativeColumns(row.Negatives)
	found := map[string]miner.Candidate{}
	for _, c := range row.Positives {
		id, ok := qw.IDs.ID(c.Row)
		if !ok {
			return r, d, fmt.Errorf("positive row %d has no id", c.Row)
		}
		found[id] = c
	}
	for _, id := range qw.Positives {
		if c, ok := found[id]; ok {
			r.PositiveIDs = append(r.PositiveIDs, id)
			r.PositiveScores = append(r.PositiveScores, c.Score)
			d.positives = append(d.positives, c.Row)
			delete(found, id) // an id listed twice is output once
		}
	}
	r.NegativeIDs, d.negatives = make([]string, len(row.Negatives)), make([]int64, len(row.Negatives))
	for i, n := range row.Negatives {
		id, ok := qw.IDs.ID(n.Row)
		if !ok {
			return r, d, fmt.Errorf("negative row %d has no id", n.Row)
		}
		r.NegativeIDs[i], d.negatives[i] = id, n.Row
	}
	return r, d, nil
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

// negativeColumns splits a row's negatives into the n-tuple's score, kind
// and rank columns.
func negativeColumns(negs []miner.Negative) (scores []float32, kinds []string, ranks []int32) {
	scores, kinds, ranks = make([]float32, len(negs)), make([]string, len(negs)), make([]int32, len(negs))
	for j, n := range negs {
		scores[j], kinds[j], ranks[j] = n.Score, n.Kind.String(), n.Rank
	}
	return scores, kinds, ranks
}
