package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/workflows"
)

// restartData is a small job: 2 corpus shards × 2 query blocks.
var restartData = synth.Config{Corpus: 1200, Queries: 400, Dim: 16, Clusters: 8, CorpusShards: 2, QueryShards: 1,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 31}

// TestFinishedEpochStartedAgain mines an epoch with the starter, then starts
// it again as clients other than the starter do, with Temporal's default ID
// reuse policy (a new run of the same workflow ID): through the temporal
// CLI, and through a plain SDK call with the spec as a map. Each returns the
// finished result, reused, with no tile mined and the output's bytes as they
// were; with "force": true the epoch is mined again, to the same parts. The
// starter sends only the fields that were set.
func TestFinishedEpochStartedAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue, run = "e2e-restart", "e2e-restart"
	dataset(t, "restart/in/", restartData)
	startWorker(t, queue)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	in, out := "s3://"+bucket+"/restart/in/", "s3://"+bucket+"/restart/out/"
	sp := workflows.Spec{Run: run, Corpus: in + "corpus/", Queries: in + "queries/", Output: out, QueryBlockRows: 200, Seed: 3}
	first, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := jobclient.Wait(ctx, c, first, nil)
	if err != nil || res.TilesMined != 4 || res.Reused {
		t.Fatalf("first job: %+v, %v; want 4 tiles mined", res, err)
	}
	checkStartInput(t, c, first, []string{"run", "epoch", "corpus", "queries", "output", "query_block_rows", "seed"})
	output := outStore(t, "restart/out/")
	before, firstParts := snapshot(t, output), parts(t, output)

	// The spec as a user writes it for a client that is not the starter.
	fields := map[string]any{"run": run, "epoch": 0, "corpus": sp.Corpus, "queries": sp.Queries, "output": out,
		"query_block_rows": 200, "seed": 3}
	id := workflows.WorkflowID(run, 0)
	start := time.Now()
	cli := startWithCLI(ctx, t, queue, id, fields)
	t.Logf("started again through the temporal CLI: result in %.1fs", time.Since(start).Seconds())
	checkReused(t, c, "temporal CLI", id, cli, res, before)

	start = time.Now()
	sdkRun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.WorkflowName, fields)
	if err != nil {
		t.Fatal(err)
	}
	var sdk map[string]any
	if err := sdkRun.Get(ctx, &sdk); err != nil {
		t.Fatalf("SDK start: %v", err)
	}
	t.Logf("started again through the SDK: result in %.1fs", time.Since(start).Seconds())
	checkReused(t, c, "SDK", id, sdk, res, before)

	fields["force"] = true
	forced, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: queue}, workflows.WorkflowName, fields)
	if err != nil {
		t.Fatal(err)
	}
	var again workflows.Result
	if err := forced.Get(ctx, &again); err != nil || again.Reused || again.TilesMined != 4 {
		t.Fatalf("force: %+v, %v; want 4 tiles mined again", again, err)
	}
	checkOutput(t, output, firstParts)
}

// TestSpecThatDoesNotDecode starts a job, through the temporal CLI, with a
// spec that has an unknown field and one that has a value of the wrong type:
// each fails with the non-retryable InvalidInput error naming the field, as a
// spec that decodes but is invalid does.
func TestSpecThatDoesNotDecode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-undecodable"
	startWorker(t, queue)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, tc := range []struct {
		edit map[string]any
		want string
	}{
		{map[string]any{"bogus": 1}, `field "bogus": unknown field`},
		{map[string]any{"epoch": "0"}, `field "epoch": must be a JSON integer, got string`},
		{map[string]any{"num_negatives": -1}, `field "num_negatives": must be 1 or more`}, // decodes, invalid
	} {
		run := fmt.Sprintf("e2e-undecodable-%d", i)
		fields := map[string]any{"run": run, "epoch": 0, "corpus": "s3://" + bucket + "/u/c/", "output": "s3://" + bucket + "/u/o/"}
		maps.Copy(fields, tc.edit)
		id := workflows.WorkflowID(run, 0)
		data, _ := json.Marshal(fields)
		cmd := exec.CommandContext(ctx, temporalCLI(t), "workflow", "start", "--address", env.temporal.Addr,
			"--type", workflows.WorkflowName, "--task-queue", queue, "--workflow-id", id, "--input", string(data))
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("temporal workflow start: %v\n%s", err, b)
		}
		err := c.GetWorkflow(ctx, id, "").Get(ctx, nil)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != workflows.ErrInvalidInput || !app.NonRetryable() ||
			!strings.Contains(app.Message(), tc.want) {
			t.Errorf("spec %s: job error %v; want a non-retryable %s error containing %q", data, err, workflows.ErrInvalidInput, tc.want)
		}
	}
}

func temporalCLI(t *testing.T) string {
	t.Helper()
	path, err := devenv.ToolPath(context.Background(), "temporal")
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// startWithCLI runs `temporal workflow execute` with the spec as its JSON
// input and returns the job's result as the CLI prints it.
func startWithCLI(ctx context.Context, t *testing.T, queue, id string, fields map[string]any) map[string]any {
	t.Helper()
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, temporalCLI(t), "workflow", "execute", "--address", env.temporal.Addr,
		"--type", workflows.WorkflowName, "--task-queue", queue, "--workflow-id", id, "--input", string(data), "-o", "json")
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("temporal workflow execute: %v\n%s", err, b)
	}
	var printed struct {
		Result map[string]any `json:"result"`
	}
	if err := json.Unmarshal(b, &printed); err != nil || printed.Result == nil {
		t.Fatalf("temporal workflow execute printed no result (%v):\n%s", err, b)
	}
	return printed.Result
}

// checkReused checks the result of a job started again over its finished
// output, as a client that is not Go reads it (a map), against the first
// result: reused, no tile mined, the same counts; that its run ran no tile
// and started no block; and that the output is as it was.
func checkReused(t *testing.T, c client.Client, how, id string, got map[string]any, first workflows.Result, before map[string]string) {
	t.Helper()
	if got["reused"] != true || got["tiles_mined"] != 0.0 || got["fingerprint"] != first.Fingerprint ||
		got["tiles_total"] != float64(first.TilesTotal) || got["queries"] != float64(first.Queries) {
		t.Errorf("%s: result %v; want reused, 0 tiles mined, the first job's counts (%+v)", how, got, first)
	}
	h := jobHistories(t, c, id)
	if len(h) != 1 {
		t.Errorf("%s: the run started %d block workflows", how, len(h)-1)
	}
	var names []string
	for _, events := range h {
		for _, ev := range events {
			if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
				names = append(names, a.GetActivityType().GetName())
			}
		}
	}
	if !slices.Equal(names, []string{workflows.FinishedActivity}) {
		t.Errorf("%s: the run scheduled %v, want %s alone", how, names, workflows.FinishedActivity)
	}
	if now := snapshot(t, outStore(t, "restart/out/")); !maps.Equal(now, before) {
		t.Errorf("%s: the output changed", how)
	}
}

// checkStartInput checks that a run's input, as the UI shows it, holds
// exactly the given fields.
func checkStartInput(t *testing.T, c client.Client, run client.WorkflowRun, want []string) {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, 0)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	payload := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0].GetData()
	var input map[string]any
	if err := json.Unmarshal(payload, &input); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(input)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("the starter sent %s; want the fields %v only", payload, want)
	}
}
