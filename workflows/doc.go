// Package workflows holds hardneg's Temporal workflows: the job spec and its
// validation, the MineHardNegatives workflow (plan → mine → merge → rebalance →
// finalize), its per-block child workflow, its progress query and search
// attributes.
//
// Everything here is deterministic workflow code. The workflows know the
// activities only by name (PlanActivity...) and by their input and result types,
// which this package defines; package activities implements them.
//
// The job's shared types (Spec, the activities' inputs and results, the block
// arithmetic of BlockRange) live here, with the workflow that defines the
// contract, and activities imports workflows, never the reverse: the workflow
// is the part whose recorded histories must replay, so what it sends and
// receives is defined beside it, and changes to it are reviewed with its
// GetVersion guards. For the same reason the workflow calls activities by
// these name constants rather than by method value: a method value would need
// workflows to import activities (a cycle), and the names are what the
// histories record, so they must stay the same strings whatever the Go
// methods are called.
//
// A job's history stays bounded at any size: each query block runs as a child
// workflow that mines the block's tiles (continuing as new every few hundred
// tiles) and then merges them, and the parent continues as new every few
// hundred blocks. At most Spec.MaxParallel tiles are in flight over the whole
// job.
package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register registers both workflows of a job under their names.
func Register(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(MineHardNegatives, workflow.RegisterOptions{Name: WorkflowName})
	r.RegisterWorkflowWithOptions(MineBlock, workflow.RegisterOptions{Name: BlockWorkflowName})
}
