package workflows

import (
	"path/filepath"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from a dev server run
// (TestRecordHistories): a change to the workflows that would break running
// jobs fails here.
func TestReplayRecordedHistories(t *testing.T) {
	dir := filepath.Join("testdata", "histories")
	types := map[string]int{}
	for _, h := range readHistoryIndex(t, dir) {
		t.Run(h.File, func(t *testing.T) {
			hist := readHistory(t, filepath.Join(dir, h.File))
			types[hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()]++
			replay(t, hist, h)
		})
	}
	if types[WorkflowName] == 0 || types[BlockWorkflowName] == 0 {
		t.Errorf("recorded histories cover %v: want both workflows", types)
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
