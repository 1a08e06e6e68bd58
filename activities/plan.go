package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/location"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Plan lists the shards, reads their footers, checks them, fingerprints the
// inputs and writes the plan. Apart from the footers it reads only the id
// columns of the corpus (to refuse an id that two shards share) and, in pairs
// mode, the positives column of the queries (to count max_positives).
func (a *Activities) Plan(ctx context.Context, in workflows.PlanInput) (_ workflows.PlanResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	spec := in.Spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return workflows.PlanResult{}, invalid(err.Error())
	}
	if err := a.checkAllowed(spec); err != nil {
		return workflows.PlanResult{}, err
	}
	if _, err := job.MinerParams(spec).Resolve(0); err != nil {
		return workflows.PlanResult{}, classify(err)
	}
	out, err := a.store(ctx, spec.Output)
	if err != nil {
		return workflows.PlanResult{}, err
	}
	// A job that runs again must not leave an earlier _SUCCESS standing while
	// it rewrites the output.
	if err := out.Delete(ctx, job.SuccessKey); err != nil {
		return workflows.PlanResult{}, fmt.Errorf("delete %s: %w", job.SuccessKey, err)
	}
	if err := location.ProbeWritable(ctx, out); err != nil {
		return workflows.PlanResult{}, err
	}

	pf, err := a.source().Check(ctx, spec)
	if err != nil {
		return workflows.PlanResult{}, err
	}
	maxPos := pf.MaxPositives
	sel, err := job.MinerParams(spec).Resolve(maxPos)
	if err != nil {
		return workflows.PlanResult{}, classify(err)
	}
	if err := a.admit(pf, sel); err != nil {
		return workflows.PlanResult{}, err
	}

	data, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return workflows.PlanResult{}, err
	}
	if err := out.Put(ctx, job.PlanKey(pf.Fingerprint), bytes.NewReader(append(data, '\n'))); err != nil {
		return workflows.PlanResult{}, fmt.Errorf("write plan: %w", err)
	}
	res := workflows.PlanResult{
		Fingerprint: pf.Fingerprint, WorkPrefix: job.WorkPrefix(pf.Fingerprint),
		QueryShards: len(pf.Queries), CorpusShards: len(pf.Corpus),
		QueryRows: pf.QueryRows, CorpusRows: pf.CorpusRows, Dim: pf.Dim, Blocks: pf.Blocks,
		RangeMax: sel.RangeMax, MaxPositives: maxPos,
	}
	if len(pf.Queries) == 0 {
		res.QueryShards = len(pf.Corpus)
	}
	if res.DoneTiles, res.DoneBlocks, err = doneWork(ctx, out, pf); err != nil {
		return workflows.PlanResult{}, err
	}
	a.logger().Info("planned", "run", spec.Run, "epoch", spec.Epoch, "fingerprint", pf.Fingerprint,
		"corpus_shards", len(pf.Corpus), "corpus_rows", pf.CorpusRows, "query_rows", pf.QueryRows,
		"blocks", pf.Blocks, "dim", pf.Dim, "max_positives", maxPos, "range_max", sel.RangeMax)
	return res, nil
}

// doneWork lists the checkpoints already under the plan's work prefix.
func doneWork(ctx context.Context, out storage.Store, p *job.Plan) (tiles, blocks workflows.Bitmap, err error) {
	objs, err := out.List(ctx, job.WorkPrefix(p.Fingerprint))
	if err != nil {
		return nil, nil, fmt.Errorf("list checkpoints: %w", err)
	}
	n := len(p.Corpus)
	for _, o := range objs {
		kind, b, s, ok := job.ParseWorkKey(strings.TrimPrefix(o.Key, job.WorkPrefix(p.Fingerprint)))
		switch {
		case !ok || b >= p.Blocks:
		case kind == "tile" && s < n:
			if tiles == nil {
				tiles = workflows.NewBitmap(p.Blocks * n)
			}
			tiles.Set(b*n + s)
		case kind == "block":
			if blocks == nil {
				blocks = workflows.NewBitmap(p.Blocks)
			}
			blocks.Set(b)
		}
	}
	return tiles, blocks, nil
}
