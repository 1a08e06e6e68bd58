package workflows

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// rebalance is the job's Rebalance activity. From version 1 of
// changeRebalanceWhileMining on it starts with the mine phase and follows it
// (RebalanceInput.Follow), writing each block's part as soon as that block and
// every block before it are merged, on whichever worker takes it; the job then
// waits after its last merge only for the last parts. Before, it started after
// the last merge and one worker wrote every part while the others idled.
type rebalance struct {
	j      *job
	done   workflow.Future // nil before version 1: result calls it then
	cancel workflow.CancelFunc
}

// startRebalance starts the rebalance beside the mine phase, from version 1
// of changeRebalanceWhileMining on; before, it returns a rebalance that runs
// when its result is asked for.
func (j *job) startRebalance(ctx workflow.Context) *rebalance {
	r := &rebalance{j: j}
	if workflow.GetVersion(ctx, changeRebalanceWhileMining, workflow.DefaultVersion, 1) < 1 {
		return r
	}
	rctx, cancel := workflow.WithCancel(ctx)
	done, settle := workflow.NewFuture(ctx)
	workflow.Go(rctx, func(gctx workflow.Context) {
		var res RebalanceResult
		err := r.call(gctx, true, &res)
		settle.Set(res, err)
	})
	r.done, r.cancel = done, cancel
	return r
}

// result waits for the rebalance to end and returns its result; before
// version 1 of changeRebalanceWhileMining it runs it first.
func (r *rebalance) result(ctx workflow.Context) (RebalanceResult, error) {
	var res RebalanceResult
	var err error
	if r.done == nil {
		err = r.call(ctx, false, &res)
	} else {
		err = r.done.Get(ctx, &res)
	}
	if err != nil {
		return res, invalidOr(fmt.Errorf("rebalance: %w", err))
	}
	return res, nil
}

// stop cancels a rebalance started beside a mine phase that ended with err:
// failed, cancelled or continuing as new. A cancelled job (when this
// execution stops on cancel) and a run that continues as new wait for it to
// stop, so that nothing of them still writes parts; a failed job does not
// (as it does not wait for tiles in flight): bad input found by a tile
// fails the job at once, and the rebalance, told at its next heartbeat that
// the job is over, stops within seconds, having written only parts of
// merged blocks, the same bytes any run writes.
func (r *rebalance) stop(ctx workflow.Context, err error) {
	if r.done == nil {
		return
	}
	r.cancel()
	var can *workflow.ContinueAsNewError
	if cancelled(ctx) || errors.As(err, &can) && stopsOnCancel(ctx) {
		_ = r.done.Get(ctx, nil) // cancelled or failed: the mine phase's error is the job's
	}
}

func (r *rebalance) call(ctx workflow.Context, follow bool, res *RebalanceResult) error {
	p := r.j.st.Plan
	summary := fmt.Sprintf("rebalance %d blocks, write %d parts", p.Blocks, p.Blocks)
	if follow {
		summary = fmt.Sprintf("rebalance %d blocks as they are merged, write %d parts", p.Blocks, p.Blocks)
	}
	actx := withActivity(ctx, rebalanceActivityID, heavyTimeout, "", summary)
	return r.j.call(ctx, actx, RebalanceActivity, RebalanceInput{
		Spec: r.j.spec, Fingerprint: p.Fingerprint, Blocks: p.Blocks, Follow: follow,
	}, res)
}
