package workflows

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

// The tests in this file need a Temporal CLI: set HARDNEG_TEMPORAL_CLI to its
// path (go build -C tools -o /tmp/temporal github.com/temporalio/cli/cmd/temporal).
// They are skipped otherwise.

var recordCompleted = flag.String("record-completed", "",
	"record a completed job's histories into testdata/histories-completed/VERSION (needs HARDNEG_TEMPORAL_CLI)")

// completedDir holds the histories of completed jobs, one folder per version
// of the workflow code that recorded them (testdata/histories holds the
// first, recorded before any workflow.GetVersion). A folder, once committed,
// is never recorded again.
const completedDir = "testdata/histories-completed"

const devTaskQueue = "hardneg-test"

// startDevServer starts a dev server with the job's search attributes, and a
// worker for the workflows and f on both task queues.
func startDevServer(t *testing.T, f *fakeActivities) client.Client {
	t.Helper()
	cli := os.Getenv("HARDNEG_TEMPORAL_CLI")
	if cli == "" {
		t.Skip("HARDNEG_TEMPORAL_CLI is not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: cli,
		LogLevel:     "error",
		ClientOptions: &client.Options{
			Logger: quietLogger,
		},
		SearchAttributes: temporal.NewSearchAttributes(
			SearchAttrRun.ValueSet(""), SearchAttrEpoch.ValueSet(0),
			SearchAttrPhase.ValueSet(""), SearchAttrProgress.ValueSet(0),
		),
	})
	if err != nil {
		t.Fatalf("start dev server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c := srv.Client()
	for _, tq := range []string{devTaskQueue, TileTaskQueue(devTaskQueue)} {
		w := worker.New(c, tq, worker.Options{})
		Register(w)
		w.RegisterActivity(f)
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
	}
	return c
}

// runOnDevServer runs a job to the end and returns every execution of it
// (parent and children, every run), oldest first.
func runOnDevServer(t *testing.T, c client.Client, spec Spec) []*workflowservice.ListWorkflowExecutionsResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, StartOptions(spec, devTaskQueue), WorkflowName, spec)
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("job: %v", err)
	}
	var pages []*workflowservice.ListWorkflowExecutionsResponse
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000, NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, resp)
		if token = resp.NextPageToken; len(token) == 0 {
			return pages
		}
	}
}

// TestDevServerHistoryBounded measures the real history of 5,000-tile jobs,
// and of a job of 1,000 one-tile blocks, each of which signals its parent
// (changeOneTileProgress).
func TestDevServerHistoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 tiles on a dev server")
	}
	for _, tt := range []struct{ blocks, shards int }{{5, 1000}, {1000, 5}, {1000, 1}} {
		t.Run(fmt.Sprintf("%dx%d", tt.blocks, tt.shards), func(t *testing.T) {
			f := newFake(testPlan(tt.blocks, tt.shards))
			c := startDevServer(t, f)
			spec := testSpec()
			spec.MaxParallel = 16
			start := time.Now()
			pages := runOnDevServer(t, c, spec)
			maxParent, maxChild, execs := int64(0), int64(0), 0
			for _, p := range pages {
				for _, e := range p.Executions {
					execs++
					if e.Type.Name == WorkflowName {
						maxParent = max(maxParent, e.HistoryLength)
					} else {
						maxChild = max(maxChild, e.HistoryLength)
					}
				}
			}
			t.Logf("%d blocks × %d shards on the dev server in %s: %d executions; max events %d per parent run, %d per block run",
				tt.blocks, tt.shards, time.Since(start).Round(time.Second), execs, maxParent, maxChild)
			if len(f.tiles) != tt.blocks*tt.shards {
				t.Errorf("%d tiles mined, want %d", len(f.tiles), tt.blocks*tt.shards)
			}
			if maxParent > maxEventsPerRun+1000 || maxChild > maxEventsPerRun+1000 {
				t.Errorf("history grew to %d/%d events", maxParent, maxChild)
			}
		})
	}
}

// historyFile is one recorded execution of testdata/histories/index.json.
type historyFile struct {
	File       string `json:"file"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// TestRecordHistories records the histories of a completed job (one tile
// retried, one skipped, the third block started while the first two merge,
// from v4 on a block granted the slot of a block done), and from v5 on of a
// job of one-tile blocks (the third block started while the first two
// merge), into completedDir/VERSION, when run with -record-completed=VERSION.
func TestRecordHistories(t *testing.T) {
	if *recordCompleted == "" {
		t.Skip("run with -record-completed=VERSION to record")
	}
	dir := filepath.Join(completedDir, *recordCompleted)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists: histories of a version are recorded once", dir)
	}
	f := newFake(testPlan(3, 3))
	f.mergeDelay = 500 * time.Millisecond // from v3 on the third block mines meanwhile
	f.failTile = func(b, s int, attempt int32) error {
		if b == 1 && s == 1 && attempt == 1 {
			return fmt.Errorf("transient failure of tile %d/%d", b, s)
		}
		return nil
	}
	f.skipTile = func(b, s int) bool { return b == 0 && s == 2 }
	f.followWaits = true // the rebalance ends after the last merge, as the real one
	index := recordJob(t, f, dir, "")
	one := newFake(testPlan(3, 1))
	one.mergeDelay, one.followWaits = 500*time.Millisecond, true
	index = append(index, recordJob(t, one, dir, "one-tile-")...)
	writeHistoryIndex(t, dir, index)
	t.Logf("recorded %d histories in %s", len(index), dir)
}

// recordJob runs a job of two slots on a dev server of its own with f and
// writes the history of each of its executions into dir, each file's name
// after prefix.
func recordJob(t *testing.T, f *fakeActivities, dir, prefix string) []historyFile {
	c := startDevServer(t, f)
	spec := testSpec()
	spec.MaxParallel = 2
	pages := runOnDevServer(t, c, spec)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var index []historyFile
	ctx := context.Background()
	for _, p := range pages {
		for _, e := range p.Executions {
			id, runID := e.Execution.WorkflowId, e.Execution.RunId
			name := fmt.Sprintf("%s%s-%d.json", prefix, filepath.Base(id), len(index))
			recordHistory(ctx, t, c, filepath.Join(dir, name), id, runID)
			index = append(index, historyFile{File: name, WorkflowID: id, RunID: runID})
		}
	}
	return index
}

// recordHistory writes the history of one workflow run to path, as JSON that
// client.HistoryFromJSON reads.
func recordHistory(ctx context.Context, t *testing.T, c client.Client, path, id, runID string) {
	t.Helper()
	hist := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: " "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readHistory reads a history that recordHistory wrote.
func readHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hist, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return hist
}

// readHistoryIndex reads dir/index.json, which writeHistoryIndex wrote.
func readHistoryIndex(t *testing.T, dir string) []historyFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("read the index of recorded histories: %v", err)
	}
	var index []historyFile
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatalf("read %s: %v", filepath.Join(dir, "index.json"), err)
	}
	return index
}

// writeHistoryIndex writes dir/index.json, the list of recorded histories
// that the replay tests read.
func writeHistoryIndex(t *testing.T, dir string, index []historyFile) {
	t.Helper()
	data, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
