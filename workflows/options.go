package workflows

import (
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// StartOptions returns the options to start the job of spec on taskQueue: the
// ID WorkflowID(spec.Run, spec.Epoch), a static summary and details for the UI,
// and the search attributes. Starting an epoch whose job is running attaches to
// it (USE_EXISTING); a finished one is not started again
// (ALLOW_DUPLICATE_FAILED_ONLY: the start fails with
// serviceerror.WorkflowExecutionAlreadyStarted and the caller fetches the result),
// while a failed one starts again and reuses its checkpoints. A caller that wants
// a finished epoch mined again sets WorkflowIDReusePolicy to ALLOW_DUPLICATE.
func StartOptions(spec Spec, taskQueue string) client.StartWorkflowOptions {
	s := spec.WithDefaults()
	return client.StartWorkflowOptions{
		ID:                       WorkflowID(spec.Run, spec.Epoch),
		TaskQueue:                taskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		StaticSummary:            fmt.Sprintf("hardneg run %s epoch %d: %s mode, %d hard + %d easy negatives", spec.Run, spec.Epoch, s.Mode(), s.NumNegatives, s.EasyNegatives),
		StaticDetails:            staticDetails(s),
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchAttrRun.ValueSet(spec.Run),
			SearchAttrEpoch.ValueSet(int64(spec.Epoch)),
			SearchAttrPhase.ValueSet(PhaseQueued),
			SearchAttrProgress.ValueSet(0),
		),
	}
}

// staticDetails is a markdown table of the inputs and the settings that shape
// the result.
func staticDetails(s Spec) string {
	var b strings.Builder
	row := func(k string, v any) { fmt.Fprintf(&b, "| %s | `%v` |\n", k, v) }
	b.WriteString("| field | value |\n|---|---|\n")
	row("run", s.Run)
	row("epoch", s.Epoch)
	row("corpus", s.Corpus)
	if s.Queries != "" {
		row("queries", s.Queries)
	}
	row("output", s.Output)
	row("mode", s.Mode())
	row("similarity", s.Similarity)
	row("num_negatives", s.NumNegatives)
	row("range", fmt.Sprintf("%d..%d", s.RangeMin, s.RangeMax))
	row("easy_negatives", s.EasyNegatives)
	row("max_negative_frequency", s.MaxNegativeFrequency)
	row("output_format", s.OutputFormat)
	row("query_block_rows", s.QueryBlockRows)
	row("max_parallel", s.MaxParallel)
	return b.String()
}

// Activity timeouts. Heartbeats notice a dead worker within HeartbeatTimeout;
// the start-to-close bounds are only a backstop against a hung worker that
// still heartbeats.
const (
	HeartbeatTimeout = 30 * time.Second
	tileTimeout      = 6 * time.Hour
	lightTimeout     = 1 * time.Hour
	heavyTimeout     = 6 * time.Hour
)

// retryPolicy retries transient failures (a lost worker, a store that timed
// out) with backoff, for about 40 minutes, and never invalid input.
var retryPolicy = &temporal.RetryPolicy{
	InitialInterval:        time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        2 * time.Minute,
	MaximumAttempts:        25,
	NonRetryableErrorTypes: []string{ErrInvalidInput},
}

// withActivity returns ctx set up for one activity call with its summary.
// From version 1 of changeActivityIDs on, the activity's ID is id; from
// version 1 of changeStopOnCancel on, a cancelled workflow waits for the
// activity to stop.
func withActivity(ctx workflow.Context, id string, timeout time.Duration, taskQueue, summary string) workflow.Context {
	opts := workflow.ActivityOptions{
		TaskQueue:           taskQueue,
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy:         retryPolicyOf(ctx),
		Summary:             summary,
		WaitForCancellation: stopsOnCancel(ctx),
	}
	if namesActivities(ctx) {
		opts.ActivityID = id
	}
	return workflow.WithActivityOptions(ctx, opts)
}

// Changes of the workflows' code path, each guarded by workflow.GetVersion so
// that executions that began before it keep the old path (version
// workflow.DefaultVersion) and their histories still replay
// (TestReplayRecordedHistories, TestReplayCancelledHistories). docs/design.md,
// "Workflow versions", lists them.
const (
	// changeActivityIDs gives every activity an ID naming what it does
	// ("plan", "tile-b000002-s000003", "merge-b000002", "rebalance",
	// "finalize") instead of the SDK's sequence number, so that the UI's
	// pending activities and `temporal activity` commands say which tile
	// they are about. An activity's ID is part of its ScheduleActivityTask
	// command, which replay compares with the history.
	changeActivityIDs = "activity-ids"
	// changeStopOnCancel makes a cancelled job start nothing new and wait for
	// its activities and block workflows to stop before it closes, so that a
	// job shown as cancelled has nothing of it still running, writing
	// checkpoints or parts. Before it, a cancelled job closed at once and a
	// tile that completed in the same workflow task as the cancellation could
	// still start the next one: commands an old history holds.
	changeStopOnCancel = "stop-on-cancel"
	// changeWaitForStorage makes the job's own activities fail an attempt at
	// once when a store does not answer, and the workflow wait in the open,
	// saying why in its progress (wait.go). Before it, Temporal retried them
	// out of the workflow's sight.
	changeWaitForStorage = "wait-for-storage"
	// changeVanishedWorker stops Temporal from retrying an activity whose
	// worker stopped heartbeating (heartbeatTimeoutType is non-retryable),
	// and has the workflow start it again itself, as <id>-again-N, at most
	// vanishRestarts times, then fail the job with ErrWorkerVanished
	// (vanish.go). Before it, a tile that killed its worker (out of
	// memory) was retried 25 times, each attempt killing another worker.
	changeVanishedWorker = "vanished-worker"
	// changeReuseOutput has a new job (not one continued as new) ask the
	// Finished activity, right after validating its spec, whether the
	// output already holds a finished result of the same fingerprint, and
	// return that result without mining when it does (unless spec.Force).
	// Before it, a job started again over a finished output mined it all
	// again. The activity is a new command, so an execution that began
	// before the change must not schedule it. Its GetVersion is called
	// where it is used, not in withVersions: only a new job needs it.
	changeReuseOutput = "reuse-output"
	// changeRebalanceWhileMining starts the Rebalance activity with the
	// mine phase, following it block by block (RebalanceInput.Follow),
	// instead of after the last merge (rebalance.go). The activity is
	// scheduled earlier in the history, so an execution that began before
	// the change must keep the old order. Its GetVersion is called where it
	// is used, before the mine phase of every run.
	changeRebalanceWhileMining = "rebalance-while-mining"
	// changeProgressEvery has a block send its progress signals at least
	// progressEvery apart (the last tile's excepted), instead of one per
	// tenth of its tiles crossed however soon after the last. Fewer signals
	// are fewer commands in the history. Its GetVersion is called where it
	// is used, first thing in MineBlock: the parent does not change.
	changeProgressEvery = "progress-every"
	// changeSlotsBeforeMerge has the parent take back a block's share of
	// max_parallel when the block reports its last tile done (the progress
	// signal that comes before its merge), instead of when the block ends.
	// Before it a block held its slots idle through its merge, and with one
	// slot per block the merges of four blocks left the workers without
	// tiles for a second (BenchmarkWorkerScaling's timeline). The next block
	// starts earlier in the history, so an execution that began before the
	// change must keep the old order. Its GetVersion is called where it is
	// used, at the start of every run's mine phase.
	changeSlotsBeforeMerge = "slots-before-merge"
	// changeSlotGrants has the parent hand the slots that no block is left
	// to start with to the blocks in flight that still have tiles to start
	// (BlockSlotsSignal), instead of leaving them free until the job ends:
	// the last blocks then mined on their first share, one slot each where
	// max_parallel is below twice the blocks, while the other workers
	// idled (docs/performance.md, "A hundred workers"). The signals are new
	// commands in the parent's history. Its GetVersion is called where it
	// is used, at the start of every run's mine phase; a block workflow
	// takes the signal whatever its version (an old history has none).
	changeSlotGrants = "slot-grants"
	// changeOneTileProgress has a block of one tile (a corpus of one shard)
	// send its parent the progress signal when its tile is done, as larger
	// blocks do for their last tile. Before it such a block sent none, so
	// it held its slot idle through its merge (changeSlotsBeforeMerge
	// returns a block's slots at that signal) and a job over one corpus
	// file mined one tile fewer during every merge. The signal is a new
	// command in the block's history. Its GetVersion is called where it is
	// used, first thing in MineBlock, and only by blocks of one tile.
	changeOneTileProgress = "one-tile-progress"
)

type versionsKey struct{}

// versions are the code paths an execution takes.
type versions struct {
	activityIDs, stopOnCancel, waitForStorage, vanishedWorker bool
}

// withVersions records in ctx the code paths of this execution. Each
// workflow calls it first thing, so that the version markers are the first
// commands of a new execution.
func withVersions(ctx workflow.Context) workflow.Context {
	v := versions{
		activityIDs:    workflow.GetVersion(ctx, changeActivityIDs, workflow.DefaultVersion, 1) >= 1,
		stopOnCancel:   workflow.GetVersion(ctx, changeStopOnCancel, workflow.DefaultVersion, 1) >= 1,
		waitForStorage: workflow.GetVersion(ctx, changeWaitForStorage, workflow.DefaultVersion, 1) >= 1,
		vanishedWorker: workflow.GetVersion(ctx, changeVanishedWorker, workflow.DefaultVersion, 1) >= 1,
	}
	return workflow.WithValue(ctx, versionsKey{}, v)
}

func versionsOf(ctx workflow.Context) versions {
	v, _ := ctx.Value(versionsKey{}).(versions)
	return v
}

// namesActivities reports whether this execution gives its activities IDs.
func namesActivities(ctx workflow.Context) bool { return versionsOf(ctx).activityIDs }

// stopsOnCancel reports whether this execution, cancelled, starts nothing new
// and waits for what it started.
func stopsOnCancel(ctx workflow.Context) bool { return versionsOf(ctx).stopOnCancel }

// cancelled reports whether ctx is cancelled and this execution stops on
// cancel: whether it must start nothing new.
func cancelled(ctx workflow.Context) bool { return stopsOnCancel(ctx) && ctx.Err() != nil }

// Activity IDs, from version 1 of changeActivityIDs on.
const (
	planActivityID      = "plan"
	rebalanceActivityID = "rebalance"
	finalizeActivityID  = "finalize"
	finishedActivityID  = "finished"
)

func tileActivityID(block, shard int) string { return fmt.Sprintf("tile-b%06d-s%06d", block, shard) }
func mergeActivityID(block int) string       { return fmt.Sprintf("merge-b%06d", block) }
