package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// heartbeatLost is what an activity attempt ends with when its worker stops
// heartbeating.
func heartbeatLost() error { return temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil) }

// startedIDs records the activity ID of every attempt started in env.
type startedIDs struct {
	mu  sync.Mutex
	ids []string
}

// envRecordingStarts is newEnv(t, f) that records the activity ID of every
// attempt it starts.
func envRecordingStarts(t *testing.T, f *fakeActivities) (*testsuite.TestWorkflowEnvironment, *startedIDs) {
	env := newEnv(t, f)
	started := &startedIDs{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		started.mu.Lock()
		started.ids = append(started.ids, info.ActivityID)
		started.mu.Unlock()
	})
	return env, started
}

// distinct returns the IDs that start with prefix, once each, in the order
// they were first started.
func (s *startedIDs) distinct(prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.ids {
		if strings.HasPrefix(id, prefix) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// The test environment retries a heartbeat timeout whatever the retry
// policy says (the SDK's IsRetryable), where the server honours
// heartbeatTimeoutType; so each start of the tile below fails all its
// attempts, and the tests look at the starts: their activity IDs.

// TestJobStopsWhenWorkersVanish has one tile's worker vanish on every start:
// the workflow starts it again three times, as -again-1..3, then fails the
// job with a non-retryable WorkerVanished error naming the tile and saying
// what happened, and runs nothing after it.
func TestJobStopsWhenWorkersVanish(t *testing.T) {
	f := newFake(testPlan(2, 3))
	f.failTile = func(b, s int, _ int32) error {
		if b == 1 && s == 2 {
			return heartbeatLost()
		}
		return nil
	}
	env, started := envRecordingStarts(t, f)
	env.ExecuteWorkflow(WorkflowName, testSpec())
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrWorkerVanished || !app.NonRetryable() {
		t.Fatalf("job error %v, want a non-retryable %s", err, ErrWorkerVanished)
	}
	for _, want := range []string{"tile-b000001-s000002", "vanished 4 times", "out of memory", "-memory"} {
		if !strings.Contains(app.Message(), want) {
			t.Errorf("message %q does not say %q", app.Message(), want)
		}
	}
	want := []string{"tile-b000001-s000002", "tile-b000001-s000002-again-1", "tile-b000001-s000002-again-2", "tile-b000001-s000002-again-3"}
	if got := started.distinct("tile-b000001-s000002"); !slices.Equal(got, want) {
		t.Errorf("starts of the vanishing tile %q, want %q", got, want)
	}
	for _, c := range f.callList() {
		if c == "finalize" || c == "merge 1" {
			t.Errorf("%s ran after the failure", c)
		}
	}
}

// TestJobSurvivesOneVanishedWorker loses a merge's worker once: the merge
// starts again as merge-b000000-again-1 and the job completes.
func TestJobSurvivesOneVanishedWorker(t *testing.T) {
	f := newFake(testPlan(1, 2))
	env, started := envRecordingStarts(t, f)
	env.OnActivity(MergeBlockActivity, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in MergeInput) (MergeResult, error) {
			if activity.GetInfo(ctx).ActivityID == "merge-b000000" {
				return MergeResult{}, heartbeatLost()
			}
			return f.MergeBlock(ctx, in)
		})
	env.ExecuteWorkflow(WorkflowName, testSpec())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	want := []string{"merge-b000000", "merge-b000000-again-1"}
	if got := started.distinct("merge-b"); !slices.Equal(got, want) {
		t.Errorf("starts of the merge %q, want %q", got, want)
	}
}

// TestVanishedWorkerRetryPolicy checks the policy the server applies: from
// version 1 of changeVanishedWorker on, a heartbeat timeout is not retried
// by Temporal (the workflow restarts the activity instead); before it, it is.
func TestVanishedWorkerRetryPolicy(t *testing.T) {
	for _, on := range []bool{false, true} {
		p := retryPolicyFor(versions{vanishedWorker: on})
		if got := slices.Contains(p.NonRetryableErrorTypes, heartbeatTimeoutType); got != on {
			t.Errorf("version on %v: heartbeat timeout non-retryable %v", on, got)
		}
		if !slices.Contains(p.NonRetryableErrorTypes, ErrInvalidInput) {
			t.Errorf("version on %v: InvalidInput retried", on)
		}
	}
	if slices.Contains(retryPolicy.NonRetryableErrorTypes, heartbeatTimeoutType) {
		t.Error("retryPolicyOf changed the shared policy")
	}
}

// TestWaitingActivityVanishesFreely loses the rebalance's worker five times
// while it waits for merges (its last heartbeat says WaitingHeartbeat) and
// once while it works: the waiting losses do not count towards the limit, so
// the workflow starts it again each time and the job completes.
func TestWaitingActivityVanishesFreely(t *testing.T) {
	f := newFake(testPlan(2, 2))
	env, started := envRecordingStarts(t, f)
	env.OnActivity(RebalanceActivity, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in RebalanceInput) (RebalanceResult, error) {
			switch id := activity.GetInfo(ctx).ActivityID; {
			case id == "rebalance-again-3":
				return RebalanceResult{}, heartbeatLost() // working
			case id != "rebalance-again-6":
				return RebalanceResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, WaitingHeartbeat, "block-b000001.ckpt")
			}
			return f.Rebalance(ctx, in)
		})
	env.ExecuteWorkflow(WorkflowName, testSpec())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	want := []string{"rebalance"}
	for i := 1; i <= 6; i++ {
		want = append(want, fmt.Sprintf("rebalance-again-%d", i))
	}
	if got := started.distinct("rebalance"); !slices.Equal(got, want) {
		t.Errorf("starts of the rebalance %q, want %q", got, want)
	}
}

// TestWaitingVanishingsHaveALimit loses the rebalance's worker on every start
// while it says it waits: after waitingRestarts such losses they count as
// any other, and the job fails with WorkerVanished after vanishRestarts more.
func TestWaitingVanishingsHaveALimit(t *testing.T) {
	f := newFake(testPlan(1, 2))
	env, started := envRecordingStarts(t, f)
	env.OnActivity(RebalanceActivity, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in RebalanceInput) (RebalanceResult, error) {
			return RebalanceResult{}, temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil, WaitingHeartbeat, "block-b000000.ckpt")
		})
	env.ExecuteWorkflow(WorkflowName, testSpec())
	var app *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &app) || app.Type() != ErrWorkerVanished {
		t.Fatalf("job error %v, want %s", err, ErrWorkerVanished)
	}
	if got, want := len(started.distinct("rebalance")), 1+waitingRestarts+vanishRestarts; got != want {
		t.Errorf("the rebalance started %d times, want %d", got, want)
	}
}
