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
func withActivity(ctx workflow.Context, timeout time.Duration, taskQueue, summary string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           taskQueue,
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy:         retryPolicy,
		Summary:             summary,
	})
}
