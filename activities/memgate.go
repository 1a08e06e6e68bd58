package activities

import (
	"context"
	"sync"

	"golang.org/x/sync/semaphore"
)

// The memory gate. Admission checks each job alone against the worker's
// whole budget: its peak is a tile or a block's merge, with the rebalance
// beside it (admission.Estimate.Peak). A worker's tiles take turns
// (pipeline.Turns), but a merge runs on the job's task queue beside them, and
// merges of several jobs may land on one shared worker at once: together
// they could pass the budget that each fits alone. So a merge, and a tile once
// it has its turn, first take their estimate (Estimate.Merge,
// Estimate.Tile) from a weighted semaphore of MemoryBudget bytes, waiting
// while other steps on this worker hold too much. A step larger than the
// budget takes all of it and runs alone. The rebalance does not wait: it
// follows the mine phase, waiting for merges, and a merge waiting for it
// would never run; it is the part of each job's peak left beside the gate.
// Steps never wait for each other's results while they hold the gate, so
// every holder ends and lets the next one in.

// memoryGate returns the process's memory gate, or nil without a budget.
func (a *Activities) memoryGate() *semaphore.Weighted {
	if a.MemoryBudget <= 0 {
		return nil
	}
	a.gateOnce.Do(func() { a.gate = semaphore.NewWeighted(a.MemoryBudget) })
	return a.gate
}

// waitForMemory takes n bytes of the memory gate (all of it when n is more),
// waiting, and heartbeating, until they fit beside what other steps hold,
// and returns the release.
func (a *Activities) waitForMemory(ctx context.Context, what string, n int64) (release func(), err error) {
	g := a.memoryGate()
	if g == nil {
		return func() {}, nil
	}
	n = min(max(n, 1), a.MemoryBudget)
	if !g.TryAcquire(n) {
		a.logger().Info("waiting for memory that other steps on this worker hold", "step", what, "bytes", n)
		stop := a.heartbeat(ctx, func() any { return what + ": waiting for memory that other steps on this worker hold" })
		err := g.Acquire(ctx, n)
		stop()
		if err != nil {
			return nil, err
		}
	}
	var once sync.Once
	return func() { once.Do(func() { g.Release(n) }) }, nil
}
