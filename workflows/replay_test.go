package workflows

import (
	"os"
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays the histories of completed jobs recorded
// from dev server runs (TestRecordHistories) by every earlier version of the
// workflow code: testdata/histories, recorded before any workflow.GetVersion,
// and each folder of completedDir. A change to the workflows that would break
// running jobs fails here.
func TestReplayRecordedHistories(t *testing.T) {
	dirs := []string{filepath.Join("testdata", "histories")}
	versions, err := os.ReadDir(completedDir)
	if err != nil {
		t.Fatalf("no recorded histories of completed jobs in %s: %v", completedDir, err)
	}
	for _, v := range versions {
		dirs = append(dirs, filepath.Join(completedDir, v.Name()))
	}
	for _, dir := range dirs {
		types := map[string]int{}
		for _, h := range readHistoryIndex(t, dir) {
			t.Run(filepath.Base(dir)+"/"+h.File, func(t *testing.T) {
				hist := readHistory(t, filepath.Join(dir, h.File))
				types[hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()]++
				replay(t, hist, h)
			})
		}
		if types[WorkflowName] == 0 || types[BlockWorkflowName] == 0 {
			t.Errorf("histories in %s cover %v: want both workflows", dir, types)
		}
	}
}

// replay replays one recorded history against the workflows as they are now.
func replay(t *testing.T, hist *historypb.History, h historyFile) {
	t.Helper()
	replayer := worker.NewWorkflowReplayer()
	Register(replayer)
	err := replayer.ReplayWorkflowHistoryWithOptions(quietLogger, hist, worker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: h.WorkflowID, RunID: h.RunID},
	})
	if err != nil {
		t.Errorf("replay %s (%s): %v", h.File, h.WorkflowID, err)
	}
}
