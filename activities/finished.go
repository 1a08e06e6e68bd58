package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/manifest"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Finished tells whether the spec's output already holds the finished result
// of the spec's inputs as they are now: _SUCCESS, a _manifest.json whose
// fingerprint equals the one the inputs have now, and every part the manifest
// lists. It reads the output's manifest and lists the input prefixes, nothing
// more, so it answers in seconds whatever the size of the job; a job started
// again over a finished output returns that result instead of mining it again.
// It writes nothing.
func (a *Activities) Finished(ctx context.Context, in workflows.FinishedInput) (_ workflows.FinishedResult, err error) {
	defer func() { err = classifyIn(in.Spec, err) }()
	spec := in.Spec.WithDefaults()
	if err := a.checkAllowed(spec); err != nil {
		return workflows.FinishedResult{}, err
	}
	out, err := a.store(ctx, spec.Output)
	if err != nil {
		return workflows.FinishedResult{}, err
	}
	not := func(format string, args ...any) (workflows.FinishedResult, error) {
		return workflows.FinishedResult{Reason: fmt.Sprintf(format, args...)}, nil
	}
	done, err := exists(ctx, out, job.SuccessKey)
	if err != nil {
		return workflows.FinishedResult{}, err
	}
	if !done {
		return not("no %s in the output", job.SuccessKey)
	}
	data, err := storage.ReadAll(ctx, out, job.ManifestKey)
	if errors.Is(err, storage.ErrNotExist) {
		return not("%s but no %s in the output", job.SuccessKey, job.ManifestKey)
	}
	if err != nil {
		return workflows.FinishedResult{}, fmt.Errorf("read %s: %w", job.ManifestKey, err)
	}
	var m manifest.Manifest
	if err := json.Unmarshal(data, &m); err != nil || m.Fingerprint == "" {
		return not("%s does not decode or has no fingerprint (%v)", job.ManifestKey, err)
	}
	fp, ok, err := a.source().Fingerprint(ctx, spec)
	if err != nil {
		return workflows.FinishedResult{}, err
	}
	if !ok {
		return not("an input prefix holds no *.parquet shard")
	}
	if fp != m.Fingerprint {
		return not("the output's fingerprint is %s, the inputs' is now %s", m.Fingerprint, fp)
	}
	if missing, err := missingPart(ctx, out, m.Parts); err != nil || missing != "" {
		if err != nil {
			return workflows.FinishedResult{}, err
		}
		return not("%s lists %s, which is not in the output", job.ManifestKey, missing)
	}
	res := workflows.FinishedResult{
		Finished: true, Fingerprint: fp, Manifest: job.ManifestKey,
		QueryShards: len(m.Inputs.Queries), CorpusShards: len(m.Inputs.Corpus),
		QueryRows: m.Inputs.QueryRows, CorpusRows: m.Inputs.CorpusRows, Blocks: len(m.Parts),
		Rebalance: workflows.RebalanceResult{
			Parts: len(m.Parts), Rows: m.Statistics.Rows,
			HardNegatives: m.Statistics.HardNegatives, EasyNegatives: m.Statistics.EasyNegatives,
			Capped: m.Statistics.Capped, Short: m.Statistics.ShortHard,
		},
	}
	if res.QueryShards == 0 {
		res.QueryShards = res.CorpusShards // self mode: the queries are the corpus
	}
	a.logger().Info("output finished already", "run", spec.Run, "epoch", spec.Epoch, "fingerprint", fp)
	return res, nil
}

// missingPart returns the first of parts that is not in the output, or "".
func missingPart(ctx context.Context, out storage.Store, parts []string) (string, error) {
	objs, err := out.List(ctx, "part-")
	if err != nil {
		return "", fmt.Errorf("list parts: %w", err)
	}
	have := make(map[string]bool, len(objs))
	for _, o := range objs {
		have[o.Key] = true
	}
	for _, p := range parts {
		if !have[p] {
			return p, nil
		}
	}
	return "", nil
}
