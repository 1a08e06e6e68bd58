package workflows

import (
	"errors"
	"fmt"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// vanishRestarts is how many times the workflow starts again an activity
// whose worker vanished (version 1 of changeVanishedWorker). One vanished
// worker is a machine lost; four in a row on the same activity is the
// activity killing them.
const vanishRestarts = 3

// waitingRestarts is how many more times it starts again an activity whose
// worker vanished while the activity waited (WaitingHeartbeat): a fleet that
// loses machines all day may lose the rebalance's, which lives as long as the
// mine phase, a few times in one job.
const waitingRestarts = 20

// heartbeatTimeoutType is the retry policy's name of a heartbeat timeout:
// listed in NonRetryableErrorTypes, the server hands it to the workflow
// instead of retrying.
const heartbeatTimeoutType = "TemporalTimeout:Heartbeat"

// retryPolicyOf is the activities' retry policy of this execution: from
// version 1 of changeVanishedWorker on, a heartbeat timeout is not retried by
// Temporal but by execute.
func retryPolicyOf(ctx workflow.Context) *temporal.RetryPolicy {
	return retryPolicyFor(versionsOf(ctx))
}

func retryPolicyFor(v versions) *temporal.RetryPolicy {
	if !v.vanishedWorker {
		return retryPolicy
	}
	p := *retryPolicy
	p.NonRetryableErrorTypes = append(slices.Clone(p.NonRetryableErrorTypes), heartbeatTimeoutType)
	return &p
}

// execute runs an activity with the options of actx. From version 1 of
// changeVanishedWorker on, when its worker vanishes (a heartbeat timeout) it
// starts it again as <id>-again-N, at most vanishRestarts times, and then
// fails with a non-retryable ErrWorkerVanished error saying what happened.
// The new ID keeps each start's attempts apart in the history and the UI.
// Vanishings whose last heartbeat was WaitingHeartbeat count apart, up to
// waitingRestarts more.
func execute(ctx, actx workflow.Context, activity string, input any) workflow.Future {
	if !versionsOf(ctx).vanishedWorker {
		return workflow.ExecuteActivity(actx, activity, input)
	}
	result, settle := workflow.NewFuture(ctx)
	workflow.Go(ctx, func(gctx workflow.Context) {
		id := workflow.GetActivityOptions(actx).ActivityID
		counted, waiting := 0, 0 // vanishings while working, and while waiting
		for starts := 1; ; starts++ {
			f := workflow.ExecuteActivity(actx, activity, input)
			err := f.Get(gctx, nil)
			if !vanished(err) || gctx.Err() != nil {
				settle.Chain(f)
				return
			}
			// An activity whose last heartbeat said it was waiting (the
			// rebalance following the mine phase, for hours) most likely
			// did not kill its worker: such losses have a limit of their
			// own, waitingRestarts, since a heartbeat is sent late (the SDK
			// throttles them) and may say waiting when work had begun.
			switch {
			case waitingWhenLost(err) && waiting < waitingRestarts:
				waiting++
			case counted == vanishRestarts:
				settle.Set(nil, workerVanished(activity, id, counted+waiting+1, err))
				return
			default:
				counted++
			}
			workflow.GetLogger(gctx).Warn("worker vanished; starting the activity again",
				"activity", activity, "id", id, "restart", starts, "error", err)
			opts := workflow.GetActivityOptions(actx)
			opts.ActivityID = fmt.Sprintf("%s-again-%d", id, starts)
			actx = workflow.WithActivityOptions(actx, opts)
		}
	})
	return result
}

// vanished reports whether err is a heartbeat timeout: the activity's worker
// stopped answering.
func vanished(err error) bool {
	var te *temporal.TimeoutError
	return errors.As(err, &te) && te.TimeoutType() == enumspb.TIMEOUT_TYPE_HEARTBEAT
}

// WaitingHeartbeat is the first heartbeat detail of an activity that is
// waiting, not working: a Rebalance following the mine phase sends it with
// the key it waits for.
const WaitingHeartbeat = "waiting for"

// waitingWhenLost reports whether a heartbeat timeout's last heartbeat was
// WaitingHeartbeat.
func waitingWhenLost(err error) bool {
	var te *temporal.TimeoutError
	var first string
	return errors.As(err, &te) && te.HasLastHeartbeatDetails() &&
		te.LastHeartbeatDetails(&first) == nil && first == WaitingHeartbeat
}

func workerVanished(activity, id string, times int, err error) error {
	if id == "" {
		id = activity
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
		"%s: the worker running it vanished %d times in a row (no heartbeat for %v: killed, out of memory, or cut off from Temporal); "+
			"the job stops rather than take down more workers: check the workers' logs and memory (-memory), then start the job again: it resumes from its checkpoints",
		id, times, HeartbeatTimeout), ErrWorkerVanished, err)
}
