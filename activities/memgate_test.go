package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hardneg/hardneg/workflows"
)

// TestWaitForMemory checks the memory gate: a step waits while others hold
// too much of the budget, goes on when they let go, takes all of it when it
// asks for more, and gives up when its context ends; without a budget
// nothing waits.
func TestWaitForMemory(t *testing.T) {
	ctx := context.Background()
	a := quiet()
	a.MemoryBudget = 100
	first, err := a.waitForMemory(ctx, "first", 60)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		release, err := a.waitForMemory(ctx, "second", 60)
		if err != nil {
			t.Error(err)
		}
		got <- release
	}()
	select {
	case <-got:
		t.Fatal("a step of 60 went on beside one of 60 under a budget of 100")
	case <-time.After(200 * time.Millisecond):
	}
	first()
	first() // a second release gives back nothing more
	second := <-got
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := a.waitForMemory(short, "huge", 1_000); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a step larger than the budget beside a held one: %v, want it to wait until its context ends", err)
	}
	second()
	huge, err := a.waitForMemory(ctx, "huge", 1_000) // alone: takes the whole budget
	if err != nil {
		t.Fatal(err)
	}
	huge()
	free := quiet() // no budget
	if release, err := free.waitForMemory(ctx, "any", 1<<40); err != nil {
		t.Errorf("without a budget: %v", err)
	} else {
		release()
	}
}

// TestStepsWaitForMemory runs a merge, and a tile, while another step holds
// the whole memory budget: neither may run until it lets go, and then each
// finishes (the tile writing its partial).
func TestStepsWaitForMemory(t *testing.T) {
	tests := []struct {
		step string
		run  func(a *Activities, spec workflows.Spec, plan workflows.PlanResult) error
	}{
		{"merge", func(a *Activities, spec workflows.Spec, plan workflows.PlanResult) error {
			_, err := a.MergeBlock(context.Background(), workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0})
			return err
		}},
		{"tile", func(a *Activities, spec workflows.Spec, plan workflows.PlanResult) error {
			in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 1, Shard: 1}
			_, err := a.MineTile(context.Background(), in)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			spec := layout(t, pairsData(2_000, 100), 2, 1)
			spec.QueryBlockRows = 50
			spec = spec.WithDefaults()
			a := quiet()
			plan, p := planJob(t, a, spec)
			for s := range 2 { // block 0's partials, for the merge
				mineTile(t, a, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0, Shard: s})
			}
			peak, _ := jobOf(t, p).Estimate().Peak()
			a.MemoryBudget = peak
			other, err := a.waitForMemory(context.Background(), "another job's step", peak)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- tt.run(a, spec, plan) }()
			select {
			case err := <-done:
				t.Fatalf("the %s ran while another step held the whole budget (err %v)", tt.step, err)
			case <-time.After(300 * time.Millisecond):
			}
			other()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("the %s did not finish after the memory was let go", tt.step)
			}
			if tt.step == "tile" && len(partial(t, spec, plan, 1, 1)) == 0 {
				t.Error("the tile wrote no partial")
			}
		})
	}
}
