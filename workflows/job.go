package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// History bounds. A parent run starts at most maxBlocksPerRun block workflows
// and a block run at most maxTilesPerRun tiles before continuing as new; both
// also continue as new when their history nears maxEventsPerRun events or the
// server suggests it. Each is far below Temporal's 51,200 events per execution.
const (
	maxBlocksPerRun = 500
	maxTilesPerRun  = 500
	maxEventsPerRun = 10_000
	// maxGrantsPerRun caps the BlockSlotsSignals of a parent run (two
	// events each, and a workflow task of the block).
	maxGrantsPerRun = 1000
)

// Resume is the state a job carries into its next run when it continues as new.
// Clients never set it: they start the workflow with the spec alone.
type Resume struct {
	Plan         PlanResult  `json:"plan"`
	NextBlock    int         `json:"next_block"` // every block before it is merged
	BlocksMerged int         `json:"blocks_merged"`
	RowsMerged   int64       `json:"rows_merged"`
	TilesMined   int         `json:"tiles_mined"`
	TilesSkipped int         `json:"tiles_skipped"`
	Started      time.Time   `json:"started"`
	Phases       []PhaseTime `json:"phases"`
	Runs         int         `json:"runs"` // runs before this one
}

// MineHardNegatives is the job of one epoch: plan, mine the tiles and merge each
// query block (one child workflow per block), rebalance, finalize. Register it
// as WorkflowName. Clients pass the spec only, as JSON (a Spec, or any JSON
// object of its fields); resume is set by the workflow itself when it
// continues as new.
//
// The workflow takes the spec as raw JSON and decodes it itself, so that a
// spec that does not decode (an unknown field, a value of the wrong type)
// fails the job with ErrInvalidInput naming the field, as a spec that decodes
// but is invalid does; decoded by the SDK, it would fail the job with an
// untyped, retryable error. The payload is the same JSON either way, so
// recorded histories replay and every client starts the job as before.
func MineHardNegatives(ctx workflow.Context, input json.RawMessage, resume *Resume) (Result, error) {
	ctx = withVersions(ctx)
	j := &job{running: map[int]BlockProgress{}}
	spec, decodeErr := decodeInput(input)
	if resume != nil {
		j.spec, j.st = spec, *resume
		j.st.Runs++
	} else {
		j.spec = spec.WithDefaults()
		j.st.Started = workflow.Now(ctx)
	}
	if err := workflow.SetQueryHandler(ctx, ProgressQuery, func() (Progress, error) {
		return j.progress(ctx), nil
	}); err != nil {
		return Result{}, fmt.Errorf("set progress query handler: %w", err)
	}
	var res Result
	err := decodeErr
	if err == nil {
		res, err = j.run(ctx, resume == nil)
	}
	var can *workflow.ContinueAsNewError
	if err != nil && !errors.As(err, &can) {
		j.failed(ctx)
	}
	return res, err
}

// job is the state of one run of MineHardNegatives.
type job struct {
	spec    Spec
	st      Resume
	phase   string
	running map[int]BlockProgress // blocks in flight: tiles reported so far
	percent int                   // last progress percent published
	waiting string                // why the job is not moving, while it waits for a store
	reused  bool                  // the output was finished already: nothing was mined
	granted int                   // BlockSlotsSignals sent in this run
}

func (j *job) run(ctx workflow.Context, fresh bool) (Result, error) {
	if fresh {
		if err := j.spec.Validate(); err != nil {
			return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, nil)
		}
		j.setPhase(ctx, PhasePlan)
		if reused, ok, err := j.reuse(ctx); err != nil || ok {
			return reused, err
		}
		actx := withActivity(ctx, planActivityID, lightTimeout, "", fmt.Sprintf("plan run %s epoch %d", j.spec.Run, j.spec.Epoch))
		if err := j.call(ctx, actx, PlanActivity, PlanInput{Spec: j.spec}, &j.st.Plan); err != nil {
			return Result{}, invalidOr(fmt.Errorf("plan: %w", err))
		}
		j.setPhase(ctx, PhaseMine)
	} else {
		j.phase = j.st.Phases[len(j.st.Phases)-1].Name
		j.publish(ctx, true)
	}
	rebalance := j.startRebalance(ctx)
	if err := j.mine(ctx); err != nil {
		rebalance.stop(ctx, err)
		return Result{}, err
	}
	p := j.st.Plan

	j.setPhase(ctx, PhaseRebalance)
	rb, err := rebalance.result(ctx)
	if err != nil {
		return Result{}, err
	}

	j.setPhase(ctx, PhaseFinalize)
	var fin FinalizeResult
	actx := withActivity(ctx, finalizeActivityID, lightTimeout, "", "finalize: statistics, _manifest.json, _SUCCESS")
	if err := j.call(ctx, actx, FinalizeActivity, FinalizeInput{
		Spec: j.spec, Fingerprint: p.Fingerprint, Blocks: p.Blocks, Phases: j.phasesUntil(workflow.Now(ctx)),
	}, &fin); err != nil {
		return Result{}, invalidOr(fmt.Errorf("finalize: %w", err))
	}
	j.setPhase(ctx, PhaseDone)
	return Result{
		Output: j.spec.Output, Fingerprint: p.Fingerprint, Manifest: fin.Manifest,
		Queries: p.QueryRows, Blocks: p.Blocks, TilesTotal: p.Tiles(),
		TilesMined: j.st.TilesMined, TilesSkipped: j.st.TilesSkipped,
		Rebalance: rb, Phases: j.st.Phases,
	}, nil
}

// decodeInput decodes the job's JSON input into a Spec. An input that does not
// decode is invalid input, with the message that names the field.
func decodeInput(input json.RawMessage) (Spec, error) {
	var s Spec
	if len(input) == 0 {
		return Spec{}, temporal.NewNonRetryableApplicationError(
			"job spec: the workflow's input is empty: start it with the spec as its one JSON argument", ErrInvalidInput, nil)
	}
	if err := json.Unmarshal(input, &s); err != nil {
		return Spec{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, nil)
	}
	return s, nil
}

// reuse returns the result already in the output when the output holds a
// finished job of the same inputs (the Finished activity), so that an epoch
// started again, by any client, is not mined again; ok is false when the job
// must mine. From version 1 of changeReuseOutput on, and only without
// spec.Force.
func (j *job) reuse(ctx workflow.Context) (_ Result, ok bool, _ error) {
	if workflow.GetVersion(ctx, changeReuseOutput, workflow.DefaultVersion, 1) < 1 || j.spec.Force {
		return Result{}, false, nil
	}
	var fin FinishedResult
	actx := withActivity(ctx, finishedActivityID, lightTimeout, "",
		"is the output finished with these inputs? (_SUCCESS, fingerprint in _manifest.json)")
	if err := j.call(ctx, actx, FinishedActivity, FinishedInput{Spec: j.spec}, &fin); err != nil {
		return Result{}, false, invalidOr(fmt.Errorf("check for a finished output: %w", err))
	}
	if !fin.Finished {
		workflow.GetLogger(ctx).Info("mining: no finished output of these inputs", "reason", fin.Reason)
		return Result{}, false, nil
	}
	j.reused = true
	j.st.Plan = PlanResult{
		Fingerprint: fin.Fingerprint, QueryShards: fin.QueryShards, CorpusShards: fin.CorpusShards,
		QueryRows: fin.QueryRows, CorpusRows: fin.CorpusRows, Blocks: fin.Blocks,
	}
	j.setPhase(ctx, PhaseDone)
	return Result{
		Output: j.spec.Output, Fingerprint: fin.Fingerprint, Manifest: fin.Manifest,
		Queries: fin.QueryRows, Blocks: fin.Blocks, TilesTotal: j.st.Plan.Tiles(),
		Rebalance: fin.Rebalance, Phases: j.st.Phases, Reused: true,
	}, true, nil
}

// mine runs one block workflow per query block, with at most max_parallel
// tiles in flight over all of them. When this run's history has grown enough it
// lets the blocks in flight finish and continues as new.
func (j *job) mine(ctx workflow.Context) error {
	p := j.st.Plan
	early := workflow.GetVersion(ctx, changeSlotsBeforeMerge, workflow.DefaultVersion, 1) >= 1
	grants := workflow.GetVersion(ctx, changeSlotGrants, workflow.DefaultVersion, 1) >= 1
	pool := newSlots(j.spec.MaxParallel)
	children := map[int]workflow.ChildWorkflowFuture{}
	started, inflight := 0, 0
	var firstErr error
	sel := workflow.NewSelector(ctx)
	progress := workflow.GetSignalChannel(ctx, BlockProgressSignal)
	sel.AddReceive(progress, func(c workflow.ReceiveChannel, _ bool) {
		var bp BlockProgress
		c.Receive(ctx, &bp)
		j.onBlockProgress(ctx, bp)
		if early && bp.Mined+bp.Skipped == p.CorpusShards {
			pool.release(bp.Block) // its tiles are done: the next block mines while it merges
		}
	})
	stop := func() bool {
		// Each run starts at least one block, so continuing as new always
		// makes progress.
		info := workflow.GetInfo(ctx)
		return started > 0 && (started >= maxBlocksPerRun ||
			info.GetCurrentHistoryLength() >= maxEventsPerRun || info.GetContinueAsNewSuggested())
	}
	for firstErr == nil {
		for j.st.NextBlock < p.Blocks && pool.free > 0 && !stop() && !cancelled(ctx) {
			b := j.st.NextBlock
			j.st.NextBlock++
			if p.DoneBlocks.Has(b) {
				j.blockDone(ctx, b, 0, p.CorpusShards)
				continue
			}
			started++
			inflight++
			j.running[b] = BlockProgress{Block: b}
			slots := pool.take(b, p.Blocks-b, p.CorpusShards)
			f := workflow.ExecuteChildWorkflow(j.childContext(ctx, b), BlockWorkflowName, j.blockInput(b, slots))
			children[b] = f
			sel.AddFuture(f, func(f workflow.Future) {
				pool.release(b)
				delete(children, b)
				inflight--
				var r BlockResult
				if err := f.Get(ctx, &r); err != nil {
					if firstErr == nil {
						firstErr = invalidOr(fmt.Errorf("block %d: %w", b, err))
					}
					return
				}
				j.blockDone(ctx, b, r.Mined, r.Skipped)
			})
		}
		if grants && pool.free > 0 && !cancelled(ctx) {
			j.grant(ctx, pool, children)
		}
		if len(j.running) == 0 {
			break
		}
		sel.Select(ctx)
	}
	// A cancelled job waits for its blocks, which wait for their tiles
	// (changeStopOnCancel), and ends cancelled even if they all finished.
	for cancelled(ctx) && inflight > 0 {
		sel.Select(ctx)
	}
	if firstErr == nil && cancelled(ctx) {
		firstErr = ctx.Err()
	}
	// Late progress signals of finished blocks carry nothing new.
	for progress.ReceiveAsync(nil) {
	}
	if firstErr != nil {
		return firstErr
	}
	if j.st.NextBlock < p.Blocks {
		return workflow.NewContinueAsNewError(ctx, WorkflowName, j.spec, &j.st)
	}
	return nil
}

// grant hands the slots that no block is left to start with to the blocks in
// flight that still have tiles to start (version 1 of changeSlotGrants), so
// that the last blocks do not mine on their first share while the slots of
// the blocks before them go unused. A signal that finds its block ended is
// of no consequence: the block's slots came back with its end.
// SignalChildWorkflow waits until the block has started (a block gets a
// grant in the task that starts it only when fewer blocks started than its
// share counted on: the run is about to continue as new, or the next blocks
// were done before) and targets its current run, so a grant survives the
// block's continue-as-new.
func (j *job) grant(ctx workflow.Context, pool *slots, children map[int]workflow.ChildWorkflowFuture) {
	if j.granted >= maxGrantsPerRun {
		return
	}
	shards := j.st.Plan.CorpusShards
	for _, g := range pool.grants(func(b int) int {
		bp := j.running[b]
		return shards - bp.Mined - bp.Skipped
	}) {
		children[g.block].SignalChildWorkflow(ctx, BlockSlotsSignal, g.slots)
		j.granted++
	}
}

func (j *job) childContext(ctx workflow.Context, b int) workflow.Context {
	info := workflow.GetInfo(ctx)
	p := j.st.Plan
	lo, hi := BlockRange(j.spec, p.QueryRows, b)
	return workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WaitForCancellation: stopsOnCancel(ctx),
		WorkflowID:          fmt.Sprintf("%s/block-%06d", info.WorkflowExecution.ID, b),
		StaticSummary: fmt.Sprintf("block %d of %d: queries %d..%d × %d corpus shards",
			b+1, p.Blocks, lo, hi-1, p.CorpusShards),
	})
}

func (j *job) blockInput(b, slots int) BlockInput {
	p := j.st.Plan
	done := NewBitmap(p.CorpusShards)
	for s := range p.CorpusShards {
		if p.DoneTiles.Has(b*p.CorpusShards + s) {
			done.Set(s)
		}
	}
	return BlockInput{
		Spec: j.spec, Fingerprint: p.Fingerprint, Block: b, Blocks: p.Blocks,
		Shards: p.CorpusShards, QueryRows: p.BlockRows(j.spec, b), Slots: slots, DoneTiles: done,
	}
}

func (j *job) onBlockProgress(ctx workflow.Context, bp BlockProgress) {
	if cancelled(ctx) {
		return // stopping: progress would only add upserts to the history
	}
	cur, ok := j.running[bp.Block]
	if !ok || bp.Mined+bp.Skipped <= cur.Mined+cur.Skipped {
		return // finished already, or an older report
	}
	j.running[bp.Block] = bp
	j.updateMinePhase(ctx)
}

func (j *job) blockDone(ctx workflow.Context, b, mined, skipped int) {
	delete(j.running, b)
	j.st.TilesMined += mined
	j.st.TilesSkipped += skipped
	j.st.BlocksMerged++
	j.st.RowsMerged += j.st.Plan.BlockRows(j.spec, b)
	j.updateMinePhase(ctx)
}

// updateMinePhase moves from mine to merge once every tile is done, and
// publishes progress.
func (j *job) updateMinePhase(ctx workflow.Context) {
	if j.phase == PhaseMine && j.tilesDone() == j.st.Plan.Tiles() && j.st.BlocksMerged < j.st.Plan.Blocks {
		j.setPhase(ctx, PhaseMerge)
		return
	}
	j.publish(ctx, false)
}

func (j *job) tilesDone() int {
	n := j.st.TilesMined + j.st.TilesSkipped
	for _, bp := range j.running {
		n += bp.Mined + bp.Skipped
	}
	return n
}

func (j *job) tilesMined() int {
	n := j.st.TilesMined
	for _, bp := range j.running {
		n += bp.Mined
	}
	return n
}

func (j *job) setPhase(ctx workflow.Context, phase string) {
	now := workflow.Now(ctx)
	if n := len(j.st.Phases); n > 0 && j.st.Phases[n-1].End.IsZero() {
		j.st.Phases[n-1].End = now
	}
	if phase != PhaseDone && phase != PhaseFailed {
		j.st.Phases = append(j.st.Phases, PhaseTime{Name: phase, Start: now})
	}
	j.phase = phase
	j.publish(ctx, true)
}

// publish sets the current details and, when the phase changed or progress
// moved by a whole percent, the search attributes. Upserts are history events,
// so they are rationed: at most about a hundred per job.
func (j *job) publish(ctx workflow.Context, phaseChanged bool) {
	p := j.progress(ctx)
	workflow.SetCurrentDetails(ctx, p.Markdown())
	pct := int(100 * p.Fraction)
	if !phaseChanged && pct <= j.percent {
		return
	}
	j.percent = pct
	err := workflow.UpsertTypedSearchAttributes(ctx,
		SearchAttrRun.ValueSet(j.spec.Run),
		SearchAttrEpoch.ValueSet(int64(j.spec.Epoch)),
		SearchAttrPhase.ValueSet(j.phase),
		SearchAttrProgress.ValueSet(p.Fraction),
	)
	if err != nil {
		// Only a malformed attribute fails here; progress display is not worth
		// failing the job for.
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
}

// failed marks a failed or cancelled job in its search attributes. It uses a
// disconnected context so that it works after cancellation too.
func (j *job) failed(ctx workflow.Context) {
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	j.setPhase(dctx, PhaseFailed)
}

func (j *job) phasesUntil(now time.Time) []PhaseTime {
	ph := append([]PhaseTime(nil), j.st.Phases...)
	if n := len(ph); n > 0 && ph[n-1].End.IsZero() {
		ph[n-1].End = now
	}
	return ph
}

func (j *job) progress(ctx workflow.Context) Progress {
	p := j.st.Plan
	now := workflow.Now(ctx)
	pr := Progress{
		Run: j.spec.Run, Epoch: j.spec.Epoch, Phase: j.phase,
		TilesTotal: p.Tiles(), TilesDone: j.tilesDone(), TilesSkipped: j.st.TilesSkipped,
		BlocksTotal: p.Blocks, BlocksMerged: j.st.BlocksMerged,
		QueryRows: p.QueryRows, RowsMerged: j.st.RowsMerged, CorpusRows: p.CorpusRows,
		Started: j.st.Started, ElapsedSeconds: now.Sub(j.st.Started).Seconds(),
		Phases: j.phasesUntil(now), Waiting: j.waiting, Reused: j.reused,
	}
	for _, bp := range j.running {
		pr.TilesSkipped += bp.Skipped
	}
	pr.Fraction = fraction(j.phase, pr.TilesDone, pr.TilesTotal, pr.BlocksMerged, pr.BlocksTotal)
	if mined := j.tilesMined(); mined > 0 && (j.phase == PhaseMine || j.phase == PhaseMerge) {
		if start, ok := j.phaseStart(PhaseMine); ok {
			perTile := now.Sub(start).Seconds() / float64(mined)
			left := perTile * float64(pr.TilesTotal-pr.TilesDone)
			pr.EstimatedSecondsLeft = &left
		}
	}
	return pr
}

func (j *job) phaseStart(name string) (time.Time, bool) {
	for _, ph := range j.st.Phases {
		if ph.Name == name {
			return ph.Start, true
		}
	}
	return time.Time{}, false
}

// invalidOr turns an error whose cause is invalid input (or workers that
// vanished, ErrWorkerVanished) into a non-retryable error of the cause's type
// carrying the cause's own message, so the job fails with the message that
// names the shard and column (or the activity) rather than a chain of
// wrappers. Other errors are returned as they are.
func invalidOr(err error) error {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && (app.Type() == ErrInvalidInput || app.Type() == ErrWorkerVanished) {
		return temporal.NewNonRetryableApplicationError(app.Message(), app.Type(), err)
	}
	return err
}
