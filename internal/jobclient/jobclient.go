// Package jobclient starts a hardneg job for one epoch and follows it: the
// shared part of the starter and the demo.
package jobclient

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/hardneg/hardneg/workflows"
)

// How a Start found the epoch's job.
const (
	Started  = "started"  // a new job
	Attached = "attached" // the job was running already
	Finished = "finished" // the job had finished; its result is returned without mining
)

// Start starts the job of spec, or finds it: a running epoch is attached to, a
// finished one is returned as it is unless force (or spec.Force) is set, in
// which case it is mined again: the new run is started with spec.Force set,
// so that it does not return the finished output either. The spec is
// validated here first, so a bad spec never reaches the server. The spec
// travels as JSON without its unset fields, as the user wrote it.
func Start(ctx context.Context, c client.Client, spec workflows.Spec, taskQueue string, force bool) (client.WorkflowRun, string, error) {
	if err := spec.WithDefaults().Validate(); err != nil {
		return nil, "", err
	}
	force = force || spec.Force
	spec.Force = force
	opts := workflows.StartOptions(spec, taskQueue)
	if force {
		opts.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	// Without this the SDK quietly hands back the finished run as if it had
	// started it; the error is how a finished epoch is told apart.
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	id := opts.ID
	// A running job is attached to by the USE_EXISTING conflict policy; the
	// description tells whether it was running before this call.
	before, _ := c.DescribeWorkflow(ctx, id, "")
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.WorkflowName, spec)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return c.GetWorkflow(ctx, id, ""), Finished, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("start job %s: %w", id, err)
	}
	if before != nil && before.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING &&
		before.WorkflowExecution.RunID == run.GetRunID() {
		return run, Attached, nil
	}
	return run, Started, nil
}

// Wait waits for the job's result, calling onProgress with the answer of the
// progress query about once a second while it runs (onProgress may be nil).
func Wait(ctx context.Context, c client.Client, run client.WorkflowRun, onProgress func(workflows.Progress)) (workflows.Result, error) {
	done := make(chan struct{})
	var res workflows.Result
	var err error
	go func() {
		defer close(done)
		err = run.Get(ctx, &res)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return res, err
		case <-tick.C:
			if onProgress == nil {
				continue
			}
			if p, qerr := Progress(ctx, c, run.GetID()); qerr == nil {
				onProgress(p)
			}
		}
	}
}

// Progress asks a job for its progress.
func Progress(ctx context.Context, c client.Client, workflowID string) (workflows.Progress, error) {
	var p workflows.Progress
	v, err := c.QueryWorkflow(ctx, workflowID, "", workflows.ProgressQuery)
	if err != nil {
		return p, fmt.Errorf("query progress of %s: %w", workflowID, err)
	}
	return p, v.Get(&p)
}

// UILink is the job's page in the Temporal UI at base (e.g. http://127.0.0.1:8233).
func UILink(base, namespace, workflowID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", base, url.PathEscape(namespace), url.PathEscape(workflowID))
}
