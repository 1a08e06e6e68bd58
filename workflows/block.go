package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"
)

// BlockProgressSignal is the signal a block workflow sends its parent as its
// tiles finish, so the job's progress moves before a whole block is done.
const BlockProgressSignal = "block-progress"

// progressSteps is how many progress signals a block sends at most: one per
// tenth of its tiles. It bounds what a block adds to the parent's history.
const progressSteps = 10

// progressEvery is, from version 1 of changeProgressEvery on, the least time
// between two progress signals of a block run, its last tile's excepted.
// Each signal costs a workflow task of the block and one of the parent: a
// block of few shards signalled every tile, two workflow tasks where the
// tile itself needs one, and with many workers the parent (one workflow,
// its tasks one at a time) would have become the job's limit.
const progressEvery = 5 * time.Second

// BlockProgress is the payload of BlockProgressSignal: the tiles of one block
// done so far. Counts are absolute, so a late or repeated signal is harmless.
type BlockProgress struct {
	Block   int `json:"block"`
	Mined   int `json:"mined"`
	Skipped int `json:"skipped"`
}

// BlockInput is the input of MineBlock. The parent fills the first fields; Next
// and the counts carry the state into the next run when the block workflow
// continues as new.
type BlockInput struct {
	Spec        Spec   `json:"spec"`
	Fingerprint string `json:"fingerprint"`
	Block       int    `json:"block"`
	Blocks      int    `json:"blocks"`
	Shards      int    `json:"shards"`     // corpus shards: one tile each
	QueryRows   int64  `json:"query_rows"` // rows of this block
	// Slots is how many of the job's max_parallel tiles this block may run at once.
	Slots int `json:"slots"`
	// DoneTiles has bit s set when the tile of shard s was mined before.
	DoneTiles Bitmap `json:"done_tiles,omitempty"`

	Next    int `json:"next"` // first shard not yet started
	Mined   int `json:"mined"`
	Skipped int `json:"skipped"`
	Step    int `json:"step"` // last progress step signalled
}

// BlockResult is the result of MineBlock.
type BlockResult struct {
	Block   int         `json:"block"`
	Mined   int         `json:"mined"`
	Skipped int         `json:"skipped"`
	Merge   MergeResult `json:"merge"`
}

// MineBlock mines the tiles of one query block, at most in.Slots at a time,
// then merges them. Register it as BlockWorkflowName. It continues as new after
// maxTilesPerRun tiles so that a block against thousands of corpus shards keeps
// a bounded history.
func MineBlock(ctx workflow.Context, in BlockInput) (BlockResult, error) {
	ctx = withVersions(ctx)
	blk := &block{in: in, lastSignal: workflow.Now(ctx),
		throttle: workflow.GetVersion(ctx, changeProgressEvery, workflow.DefaultVersion, 1) >= 1,
		grants:   workflow.GetSignalChannel(ctx, BlockSlotsSignal)}
	blk.oneTile = in.Shards == 1 && workflow.GetVersion(ctx, changeOneTileProgress, workflow.DefaultVersion, 1) >= 1
	if err := blk.mine(ctx); err != nil {
		return BlockResult{}, err
	}
	if blk.in.Next < blk.in.Shards {
		blk.waitSignals(ctx)
		blk.takeGrants() // a grant still queued would be lost with this run
		return BlockResult{}, workflow.NewContinueAsNewError(ctx, BlockWorkflowName, blk.in)
	}
	var m MergeResult
	actx := withActivity(ctx, mergeActivityID(in.Block), heavyTimeout, "", fmt.Sprintf("merge block %d of %d (%d query rows, %d tiles)",
		in.Block+1, in.Blocks, in.QueryRows, in.Shards))
	err := execute(ctx, actx, MergeBlockActivity, MergeInput{
		Spec: in.Spec, Fingerprint: in.Fingerprint, Block: in.Block,
	}).Get(ctx, &m)
	blk.waitSignals(ctx)
	blk.takeGrants() // grants that came during the merge: nothing left to run
	if err != nil {
		return BlockResult{}, invalidOr(fmt.Errorf("merge block %d: %w", in.Block, err))
	}
	return BlockResult{Block: in.Block, Mined: blk.in.Mined, Skipped: blk.in.Skipped, Merge: m}, nil
}

type block struct {
	in      BlockInput
	signals []workflow.Future
	// throttle is version 1 of changeProgressEvery: a progress signal
	// waits until progressEvery after this run's start or its last one.
	throttle   bool
	lastSignal time.Time
	// oneTile is version 1 of changeOneTileProgress in a block of one
	// tile: it too signals its tile done.
	oneTile bool
	grants  workflow.ReceiveChannel // BlockSlotsSignal: more slots
}

// takeGrants adds the slots of the grants received to the block's.
func (blk *block) takeGrants() {
	var n int
	for blk.grants.ReceiveAsync(&n) {
		blk.in.Slots += n
	}
}

// mine runs the block's tiles until all are done or this run has scheduled
// maxTilesPerRun of them.
func (blk *block) mine(ctx workflow.Context) error {
	in := &blk.in
	sel := workflow.NewSelector(ctx)
	inflight, scheduled := 0, 0
	var firstErr error
	tq := TileTaskQueue(workflow.GetInfo(ctx).TaskQueueName)
	sel.AddReceive(blk.grants, func(workflow.ReceiveChannel, bool) { blk.takeGrants() })
	for firstErr == nil {
		for in.Next < in.Shards && inflight < in.Slots && blk.mayStart(ctx, scheduled) && !cancelled(ctx) {
			s := in.Next
			in.Next++
			if in.DoneTiles.Has(s) {
				in.Skipped++
				continue
			}
			inflight++
			scheduled++
			actx := withActivity(ctx, tileActivityID(in.Block, s), tileTimeout, tq, blk.tileSummary(s))
			f := execute(ctx, actx, MineTileActivity, TileInput{
				Spec: in.Spec, Fingerprint: in.Fingerprint, Block: in.Block, Shard: s,
			})
			sel.AddFuture(f, func(f workflow.Future) {
				inflight--
				var r TileResult
				if err := f.Get(ctx, &r); err != nil {
					if firstErr == nil {
						firstErr = invalidOr(fmt.Errorf("tile of block %d, corpus shard %d: %w", in.Block, s, err))
					}
					return
				}
				if r.Skipped {
					in.Skipped++
				} else {
					in.Mined++
				}
			})
		}
		blk.report(ctx)
		if inflight == 0 {
			break
		}
		sel.Select(ctx)
	}
	// A cancelled block waits for its tiles to stop (changeStopOnCancel), and
	// ends cancelled even if they all finished.
	for cancelled(ctx) && inflight > 0 {
		sel.Select(ctx)
	}
	if firstErr == nil && cancelled(ctx) {
		return ctx.Err()
	}
	return firstErr
}

func (blk *block) mayStart(ctx workflow.Context, scheduled int) bool {
	if scheduled == 0 {
		return true // every run makes progress
	}
	info := workflow.GetInfo(ctx)
	return scheduled < maxTilesPerRun && info.GetCurrentHistoryLength() < maxEventsPerRun &&
		!info.GetContinueAsNewSuggested()
}

func (blk *block) tileSummary(s int) string {
	in := blk.in
	lo, _ := BlockRange(in.Spec, 0, in.Block)
	return fmt.Sprintf("tile b%06d-s%06d: query block %d of %d (rows %d..%d) × corpus shard %d of %d",
		in.Block, s, in.Block+1, in.Blocks, lo, lo+in.QueryRows-1, s+1, in.Shards)
}

// report signals the parent when the block has crossed another tenth of its
// tiles, the last included, so that the parent sees every tile done before the
// merge ends; and, throttled, only when progressEvery has passed since the
// last signal, except for the last tile. A block of one tile signals its
// tile done from version 1 of changeOneTileProgress on; before it, it was
// left to its result.
func (blk *block) report(ctx workflow.Context) {
	in := &blk.in
	parent := workflow.GetInfo(ctx).ParentWorkflowExecution
	done := in.Mined + in.Skipped
	if parent == nil || in.Shards < 2 && !blk.oneTile {
		return
	}
	step := done * progressSteps / in.Shards
	if step <= in.Step {
		return
	}
	now := workflow.Now(ctx)
	if blk.throttle && done < in.Shards && now.Sub(blk.lastSignal) < progressEvery {
		return
	}
	in.Step, blk.lastSignal = step, now
	// An empty run ID targets the parent's current run, across continue-as-new.
	f := workflow.SignalExternalWorkflow(ctx, parent.ID, "", BlockProgressSignal,
		BlockProgress{Block: in.Block, Mined: in.Mined, Skipped: in.Skipped})
	blk.signals = append(blk.signals, f)
}

// waitSignals waits until the progress signals sent are delivered. A failed
// signal only means a progress display lags: it is not an error of the block.
func (blk *block) waitSignals(ctx workflow.Context) {
	for _, f := range blk.signals {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("progress signal to parent", "error", err)
		}
	}
	blk.signals = nil
}
