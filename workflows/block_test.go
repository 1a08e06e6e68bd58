package workflows

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"
)

// progressParent runs one block workflow as its child and returns the tiles
// done that each progress signal it received carried, in order.
func progressParent(ctx workflow.Context, in BlockInput) ([]int, error) {
	var got []int
	ch := workflow.GetSignalChannel(ctx, BlockProgressSignal)
	child := workflow.ExecuteChildWorkflow(workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID: "block-0",
	}), BlockWorkflowName, in)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(ch, func(c workflow.ReceiveChannel, _ bool) {
		var bp BlockProgress
		c.Receive(ctx, &bp)
		got = append(got, bp.Mined+bp.Skipped)
	})
	done := false
	var err error
	sel.AddFuture(child, func(f workflow.Future) { done, err = true, f.Get(ctx, nil) })
	for !done {
		sel.Select(ctx)
	}
	for ch.ReceiveAsync(nil) {
		got = append(got, -1) // a signal after the block's result: none is expected
	}
	return got, err
}

// TestProgressSignalsThrottled mines a block of 22 tiles, one at a time, each
// taking 1 s of workflow time. Before changeProgressEvery the block signals
// each tenth of its tiles crossed; from its version 1 on, at least
// progressEvery (5 s) apart, and always after its last tile (2 s after the
// signal before it), before the merge.
func TestProgressSignalsThrottled(t *testing.T) {
	tests := []struct {
		version workflow.Version
		want    []int
	}{
		{workflow.DefaultVersion, []int{3, 5, 7, 9, 11, 14, 16, 18, 20, 22}},
		{1, []int{5, 10, 15, 20, 22}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("version %d", tt.version), func(t *testing.T) {
			f := newFake(testPlan(1, 22))
			env := newEnv(t, f)
			env.RegisterWorkflow(progressParent)
			env.OnGetVersion(changeProgressEvery, workflow.DefaultVersion, 1).Return(tt.version)
			env.OnActivity(MineTileActivity, mock.Anything, mock.Anything).After(time.Second).Return(
				func(_ context.Context, in TileInput) (TileResult, error) {
					return TileResult{Block: in.Block, Shard: in.Shard}, nil
				})
			env.ExecuteWorkflow(progressParent, BlockInput{
				Spec: testSpec(), Fingerprint: "fp", Blocks: 1, Shards: 22, QueryRows: 100, Slots: 1,
			})
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var got []int
			if err := env.GetWorkflowResult(&got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("progress signals carried %v tiles done, want %v", got, tt.want)
			}
		})
	}
}
