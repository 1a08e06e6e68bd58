package workflows

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// eventBound is an upper bound on the history events of one execution that
// schedules the given activities and child workflows and sends or receives the
// given signals and upserts. Every command and its outcome is at most three
// events (scheduled/initiated, started, closed), every outcome can wake the
// workflow for one more workflow task (three events), and the execution's own
// start, first task and close add six more.
func eventBound(activities, children, signalsSent, signalsReceived, upserts int) int {
	wakes := activities + children + signalsSent + signalsReceived
	return 6 + 3*activities + 3*children + 2*signalsSent + signalsReceived + upserts + 3*wakes
}

// TestHistoryStaysBounded runs plans of 5,000 tiles shaped both ways (few
// blocks of many shards, many blocks of few shards) and bounds the events of
// every execution, parent and child, continued or not.
func TestHistoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 tiles through the test environment")
	}
	for _, tt := range []struct{ blocks, shards int }{{5, 1000}, {1000, 5}} {
		t.Run(fmt.Sprintf("%dx%d", tt.blocks, tt.shards), func(t *testing.T) {
			f := newFake(testPlan(tt.blocks, tt.shards))
			spec := testSpec()
			spec.MaxParallel = 16
			var resume *Resume
			parentRuns, maxChildren := 0, 0
			for {
				parentRuns++
				env := newEnv(t, f)
				children := 0
				env.SetOnChildWorkflowStartedListener(func(*workflow.Info, workflow.Context, converter.EncodedValues) {
					children++
				})
				env.ExecuteWorkflow(WorkflowName, spec, resume)
				maxChildren = max(maxChildren, children)
				err := env.GetWorkflowError()
				var can *workflow.ContinueAsNewError
				if errors.As(err, &can) {
					resume = new(Resume)
					if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &spec, resume); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var res Result
				if err := env.GetWorkflowResult(&res); err != nil {
					t.Fatal(err)
				}
				if res.TilesMined != tt.blocks*tt.shards {
					t.Fatalf("mined %d tiles, want %d", res.TilesMined, tt.blocks*tt.shards)
				}
				break
			}
			if len(f.tiles) != tt.blocks*tt.shards {
				t.Fatalf("%d distinct tiles mined, want %d", len(f.tiles), tt.blocks*tt.shards)
			}
			maxActs := 0
			for _, n := range f.perRun {
				maxActs = max(maxActs, n)
			}
			// A parent run: its own activities (at most 4), its children, a
			// progress signal per tenth of each child's tiles, an upsert per
			// percent and phase, and its grants of slots.
			signals := signalsPerBlock(tt.shards)
			parent := eventBound(4, maxChildren, maxGrantsPerRun, maxChildren*signals, 100+8)
			// A child run: its tiles and merge, its progress signals and the
			// grants it receives.
			child := eventBound(maxActs, 0, signals, maxGrantsPerRun, 0)
			t.Logf("%d blocks × %d shards: %d parent runs, ≤%d children per parent run, ≤%d activities per run; events ≤ %d per parent run, ≤ %d per child run",
				tt.blocks, tt.shards, parentRuns, maxChildren, maxActs, parent, child)
			if maxChildren > maxBlocksPerRun || maxActs > maxTilesPerRun+1 {
				t.Errorf("a run exceeded its budget: %d children, %d activities", maxChildren, maxActs)
			}
			const limit = 51_200
			if parent > limit/2 || child > limit/2 {
				t.Errorf("event bound %d (parent), %d (child): over half of Temporal's %d", parent, child, limit)
			}
		})
	}
}

// signalsPerBlock counts the progress signals a block of n tiles sends when its
// tiles finish one at a time: one per tenth crossed.
func signalsPerBlock(n int) int {
	if n < 2 {
		return 0
	}
	sent, step := 0, 0
	for done := 1; done <= n; done++ {
		if s := done * progressSteps / n; s > step {
			step = s
			sent++
		}
	}
	return sent
}
