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

// TestMergeWaitsForMemory merges a block while another step holds the whole
// memory budget: the merge must not start reading until it lets go, and then
// finishes.
func TestMergeWaitsForMemory(t *testing.T) {
	spec := layout(t, pairsData(2_000, 100), 2, 1)
	spec.QueryBlockRows = 50
	spec = spec.WithDefaults()
	a := quiet()
	plan, p := planJob(t, a, spec)
	for s := range 2 {
		mineTile(t, a, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0, Shard: s})
	}
	peak, _ := jobOf(t, p).Estimate().Peak()
	a.MemoryBudget = peak
	other, err := a.waitForMemory(context.Background(), "another job's step", peak)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.MergeBlock(context.Background(), workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the merge ran while another step held the whole budget (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	other()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the merge did not finish after the memory was let go")
	}
}

// TestTileWaitsForMemory mines a tile while another step holds the whole
// memory budget: the tile must not write its partial until it lets go.
func TestTileWaitsForMemory(t *testing.T) {
	spec := layout(t, pairsData(2_000, 100), 2, 1)
	spec.QueryBlockRows = 50
	spec = spec.WithDefaults()
	a := quiet()
	plan, p := planJob(t, a, spec)
	peak, _ := jobOf(t, p).Estimate().Peak()
	a.MemoryBudget = peak
	other, err := a.waitForMemory(context.Background(), "another job's step", peak)
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0, Shard: 1}
	done := make(chan error, 1)
	go func() {
		_, err := a.MineTile(context.Background(), in)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the tile ran while another step held the whole budget (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	other()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(partial(t, spec, plan, 0, 1)) == 0 {
		t.Error("no partial after the memory was let go")
	}
}
