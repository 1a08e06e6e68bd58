package workflows

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// Histories of cancelled jobs, one folder per version of the workflow code
// that recorded them (testdata/histories-cancelled/<version>/): v0 before
// changeStopOnCancel and changeActivityIDs, v1 after, v2 after
// changeRebalanceWhileMining (the rebalance in flight is cancelled too), v3 after
// changeSlotsBeforeMerge, v4 after changeSlotGrants. Each is replayed by
// TestReplayCancelledHistories, so a change to the code path of a cancelled
// job must keep the histories of the versions before it replaying: that is
// what workflow.GetVersion guards are for. A folder, once committed, is never
// recorded again.
//
// Temporal's replayer does not compare the last workflow task of a history
// that ends cancelled or failed with the events after it, so it cannot catch
// every change of the cancellation path; the guard for changeStopOnCancel
// rests on the reasoning in its comment. A change of the commands before that
// task is caught, as TestReplayRecordedHistories catches an unguarded
// changeActivityIDs.
var recordCancelled = flag.String("record-cancelled", "",
	"record a cancelled job's histories into testdata/histories-cancelled/VERSION (needs HARDNEG_TEMPORAL_CLI)")

const cancelledDir = "testdata/histories-cancelled"

// TestRecordCancelledHistories runs a job on a dev server with fake
// activities, cancels it while tiles are in flight, and records the histories
// of the job and its blocks, when run with -record-cancelled=VERSION.
func TestRecordCancelledHistories(t *testing.T) {
	if *recordCancelled == "" {
		t.Skip("run with -record-cancelled=VERSION to record")
	}
	dir := filepath.Join(cancelledDir, *recordCancelled)
	if _, err := os.Stat(dir); err == nil {
		t.Fatalf("%s exists: histories of a version are recorded once", dir)
	}
	f := newFake(testPlan(3, 4))
	f.tileDelay = 1500 * time.Millisecond
	f.followWaits = true // from v2 on the rebalance follows the mine phase: cancelled with it
	c := startDevServer(t, f)
	spec := testSpec()
	spec.MaxParallel = 3
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, StartOptions(spec, devTaskQueue), WorkflowName, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Cancel once a few tiles are done and others are running.
	for {
		f.mu.Lock()
		done := len(f.tiles)
		f.mu.Unlock()
		if done >= 4 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	if err := run.Get(ctx, nil); err == nil {
		t.Fatal("the cancelled job succeeded")
	}
	// Let the blocks close too before their histories are read.
	time.Sleep(3 * time.Second)

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var index []historyFile
	ids := []string{run.GetID()}
	for b := range 3 {
		ids = append(ids, fmt.Sprintf("%s/block-%06d", run.GetID(), b))
	}
	for _, id := range ids {
		desc, err := c.DescribeWorkflow(ctx, id, "")
		if err != nil {
			continue // a block that never started
		}
		if st := desc.Status; st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("%s is still running after the job was cancelled", id)
		}
		runID := desc.WorkflowExecution.RunID
		name := fmt.Sprintf("%s.json", filepath.Base(id))
		recordHistory(ctx, t, c, filepath.Join(dir, name), id, runID)
		index = append(index, historyFile{File: name, WorkflowID: id, RunID: runID})
	}
	writeHistoryIndex(t, dir, index)
	t.Logf("recorded %d histories of a cancelled job in %s", len(index), dir)
}

// TestReplayCancelledHistories replays the histories of cancelled jobs
// recorded by every earlier version of the workflow code.
func TestReplayCancelledHistories(t *testing.T) {
	versions, err := os.ReadDir(cancelledDir)
	if err != nil || len(versions) == 0 {
		t.Fatalf("no recorded histories of cancelled jobs in %s: %v", cancelledDir, err)
	}
	for _, v := range versions {
		dir := filepath.Join(cancelledDir, v.Name())
		for _, h := range readHistoryIndex(t, dir) {
			t.Run(v.Name()+"/"+h.File, func(t *testing.T) {
				replay(t, readHistory(t, filepath.Join(dir, h.File)), h)
			})
		}
	}
}

// idRecorder collects the IDs of the activities a test environment starts.
type idRecorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *idRecorder) attach(env *testsuite.TestWorkflowEnvironment) {
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.ids = append(r.ids, info.ActivityID)
	})
}

// TestActivityIDsFollowTheVersion checks both sides of changeActivityIDs: a
// new execution names its activities after what they do; one that began
// before the change keeps the SDK's numbers.
func TestActivityIDsFollowTheVersion(t *testing.T) {
	for _, tt := range []struct {
		version workflow.Version
		want    []string // IDs that must be among the activities'
	}{
		{1, []string{"plan", "tile-b000000-s000000", "tile-b000001-s000002", "merge-b000001", "rebalance", "finalize"}},
		{workflow.DefaultVersion, nil},
	} {
		t.Run(fmt.Sprint("version ", tt.version), func(t *testing.T) {
			env := newEnv(t, newFake(testPlan(2, 3)))
			if tt.version == workflow.DefaultVersion {
				env.OnGetVersion(changeActivityIDs, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			var rec idRecorder
			rec.attach(env)
			env.ExecuteWorkflow(WorkflowName, testSpec())
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			named := 0
			for _, id := range rec.ids {
				if _, err := strconv.Atoi(id); err != nil {
					named++
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(rec.ids, w) {
					t.Errorf("no activity %q among %v", w, rec.ids)
				}
			}
			if tt.want == nil && named != 0 {
				t.Errorf("an execution from before the change named %d activities: %v", named, rec.ids)
			}
			if tt.want != nil && named != len(rec.ids) {
				t.Errorf("only %d of %d activities named: %v", named, len(rec.ids), rec.ids)
			}
		})
	}
}
