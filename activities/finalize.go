package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/manifest"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Finalize writes _manifest.json, removes parts left by an earlier job that
// had more blocks, writes _SUCCESS last, and then removes the job's _work/
// folder. Run again after it succeeded (a retry), it only finishes the clean-up.
func (a *Activities) Finalize(ctx context.Context, in workflows.FinalizeInput) (_ workflows.FinalizeResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	res := workflows.FinalizeResult{Manifest: job.ManifestKey, Success: job.SuccessKey}
	if err := a.checkAllowed(in.Spec); err != nil {
		return res, err
	}
	out, err := a.store(ctx, in.Spec.Output)
	if err != nil {
		return res, err
	}
	done, err := exists(ctx, out, job.SuccessKey)
	if err != nil {
		return res, err
	}
	if !done {
		if err := a.writeManifest(ctx, in, out); err != nil {
			return res, err
		}
		if err := out.Put(ctx, job.SuccessKey, strings.NewReader("")); err != nil {
			return res, fmt.Errorf("write %s: %w", job.SuccessKey, err)
		}
	}
	if err := removeWork(ctx, out, job.WorkPrefix(in.Fingerprint)); err != nil {
		return res, err
	}
	a.mu.Lock()
	delete(a.plans, in.Spec.Output+"\x00"+in.Fingerprint)
	a.mu.Unlock()
	return res, nil
}

// cleanupParallel is how many deletes of _work/ are in flight at once. A
// job of thousands of tiles leaves thousands of checkpoints; one at a time,
// at S3's ~10 ms a request, their removal alone would take minutes.
const cleanupParallel = 16

// removeWork deletes every object under prefix, cleanupParallel at a time,
// heartbeating as they go so that a long clean-up is not taken for a
// vanished worker.
func removeWork(ctx context.Context, out storage.Store, prefix string) error {
	work, err := out.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cleanupParallel)
	for i, o := range work {
		g.Go(func() error {
			if err := out.Delete(gctx, o.Key); err != nil {
				return fmt.Errorf("remove %s: %w", o.Key, err)
			}
			return nil
		})
		beat(ctx, "removed", i) // the SDK sends at most one heartbeat per interval
	}
	return g.Wait()
}

func (a *Activities) writeManifest(ctx context.Context, in workflows.FinalizeInput, out storage.Store) error {
	p, _, err := a.loadPlan(ctx, in.Spec, in.Fingerprint)
	if err != nil {
		return err
	}
	sel, err := p.Selection()
	if err != nil {
		return classify(err)
	}
	data, err := storage.ReadAll(ctx, out, job.StatsKey(p.Fingerprint))
	if errors.Is(err, storage.ErrNotExist) {
		return fmt.Errorf("finalize: %s is missing (Rebalance has not run)", job.StatsKey(p.Fingerprint))
	}
	if err != nil {
		return fmt.Errorf("read statistics: %w", err)
	}
	m := manifest.Manifest{
		Program: manifest.BuildInfo(), Spec: p.Spec, Fingerprint: p.Fingerprint, OutputFormat: p.Spec.OutputFormat,
		RangeMax: sel.RangeMax, MaxPositives: p.MaxPositives, Dim: p.Dim,
		Inputs: manifest.Inputs{CorpusRows: p.CorpusRows, QueryRows: p.QueryRows, Corpus: p.Corpus, Queries: p.Queries},
	}
	if err := json.Unmarshal(data, &m.Statistics); err != nil {
		return fmt.Errorf("decode statistics: %w", err)
	}
	for b := range p.Blocks {
		m.Parts = append(m.Parts, job.PartKey(b))
	}
	for _, ph := range in.Phases {
		m.Phases = append(m.Phases, manifest.Phase{Name: ph.Name, Start: ph.Start, End: ph.End, Seconds: ph.End.Sub(ph.Start).Seconds()})
	}
	// Parts beyond this job's blocks were left by an earlier job on the same
	// output; they are not part of this result.
	objs, err := out.List(ctx, "part-")
	if err != nil {
		return fmt.Errorf("list parts: %w", err)
	}
	for _, o := range objs {
		if b, ok := job.PartBlock(o.Key); ok && b >= p.Blocks {
			if err := out.Delete(ctx, o.Key); err != nil {
				return fmt.Errorf("remove stale %s: %w", o.Key, err)
			}
		}
	}
	js, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := out.Put(ctx, job.ManifestKey, bytes.NewReader(append(js, '\n'))); err != nil {
		return fmt.Errorf("write %s: %w", job.ManifestKey, err)
	}
	return nil
}
