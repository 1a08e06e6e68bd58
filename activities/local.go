package activities

import (
	"context"
	"fmt"

	"github.com/hardneg/hardneg/workflows"
)

// RunLocal runs a whole job in this process, one activity after another as the
// workflow orders them, without Temporal. Tests use it as the reference that a
// job on a Temporal cluster must equal byte for byte; it also mines a small
// data set on one machine with no server at all.
func (a *Activities) RunLocal(ctx context.Context, spec workflows.Spec) (workflows.PlanResult, error) {
	spec = spec.WithDefaults()
	if err := spec.Validate(); err != nil {
		return workflows.PlanResult{}, err
	}
	plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		return plan, fmt.Errorf("plan: %w", err)
	}
	for b := range plan.Blocks {
		for s := range plan.CorpusShards {
			in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b, Shard: s}
			if _, err := a.MineTile(ctx, in); err != nil {
				return plan, fmt.Errorf("mine tile b%d s%d: %w", b, s, err)
			}
		}
		if _, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b}); err != nil {
			return plan, fmt.Errorf("merge block %d: %w", b, err)
		}
	}
	if _, err := a.Rebalance(ctx, workflows.RebalanceInput{Spec: spec, Fingerprint: plan.Fingerprint, Blocks: plan.Blocks}); err != nil {
		return plan, fmt.Errorf("rebalance: %w", err)
	}
	if _, err := a.Finalize(ctx, workflows.FinalizeInput{Spec: spec, Fingerprint: plan.Fingerprint, Blocks: plan.Blocks}); err != nil {
		return plan, fmt.Errorf("finalize: %w", err)
	}
	return plan, nil
}
