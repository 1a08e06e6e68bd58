package workflows

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays histories recorded from a dev server run
// (TestRecordHistories): a change to the workflows that would break running
// jobs fails here.
func TestReplayRecordedHistories(t *testing.T) {
	dir := filepath.Join("testdata", "histories")
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatalf("read the index of recorded histories: %v", err)
	}
	var index []historyFile
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, h := range index {
		t.Run(h.File, func(t *testing.T) {
			hist := readHistory(t, filepath.Join(dir, h.File))
			types[hist.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()]++
			replayer := worker.NewWorkflowReplayer()
			Register(replayer)
			err = replayer.ReplayWorkflowHistoryWithOptions(quietLogger, hist, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: h.WorkflowID, RunID: h.RunID},
			})
			if err != nil {
				t.Errorf("replay %s (%s): %v", h.File, h.WorkflowID, err)
			}
		})
	}
	if types[WorkflowName] == 0 || types[BlockWorkflowName] == 0 {
		t.Errorf("recorded histories cover %v: want both workflows", types)
	}
}
