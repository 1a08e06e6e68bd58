package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Waiting for a store that does not answer, from version 1 of
// changeWaitForStorage on: the job's own activities (plan, rebalance,
// finalize) fail an attempt at once when nothing answers, and the workflow
// says so in its progress and current details, waits and calls again.
// Temporal's own retries of an activity are invisible to the workflow, so a
// person watching would otherwise see a job standing still with no reason.
const (
	storageWaitAttempts = 100              // about 45 minutes with storageWaitCap
	storageWaitCap      = 30 * time.Second // longest wait between attempts
)

// storageWait is how long to wait after the attempt-th failure.
func storageWait(attempt int) time.Duration {
	if attempt >= 5 {
		return storageWaitCap
	}
	return min(time.Second<<attempt, storageWaitCap)
}

// waitsForStorage reports whether this execution waits for a store that does
// not answer in the open (version 1 of changeWaitForStorage).
func waitsForStorage(ctx workflow.Context) bool { return versionsOf(ctx).waitForStorage }

// call runs one activity of the job and stores its result in out. From
// version 1 of changeWaitForStorage on, an attempt that fails because a store
// does not answer returns here, and call waits and calls the activity again,
// up to storageWaitAttempts times, with the reason in j.waiting meanwhile.
func (j *job) call(ctx, actx workflow.Context, activity string, input, out any) error {
	if !waitsForStorage(ctx) {
		return workflow.ExecuteActivity(actx, activity, input).Get(ctx, out)
	}
	policy := *retryPolicyOf(ctx)
	policy.NonRetryableErrorTypes = append(slices.Clone(policy.NonRetryableErrorTypes), ErrStorageUnreachable)
	actx = workflow.WithRetryPolicy(actx, policy)
	for attempt := 1; ; attempt++ {
		err := execute(ctx, actx, activity, input).Get(ctx, out)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != ErrStorageUnreachable ||
			attempt >= storageWaitAttempts || cancelled(ctx) || ctx.Err() != nil {
			j.setWaiting(ctx, "")
			return err
		}
		j.setWaiting(ctx, fmt.Sprintf("waiting for storage, attempt %d: %s", attempt, app.Message()))
		if err := workflow.Sleep(ctx, storageWait(attempt)); err != nil {
			j.setWaiting(ctx, "")
			return err
		}
	}
}

// setWaiting records why the job is not moving ("" when it moves again) and
// publishes it.
func (j *job) setWaiting(ctx workflow.Context, why string) {
	if j.waiting == why {
		return
	}
	j.waiting = why
	j.publish(ctx, false)
}
