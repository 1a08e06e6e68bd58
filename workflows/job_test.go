package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"
)

// fakeActivities stands in for package activities: it records every call and
// can be told to fail, skip or slow down chosen tiles.
type fakeActivities struct {
	plan      PlanResult
	tileDelay time.Duration
	// mergeDelay, when set, slows each merge down and has it record
	// "merged N" as it ends.
	mergeDelay time.Duration
	// failTile returns the error a tile fails with on an attempt, or nil.
	failTile func(block, shard int, attempt int32) error
	skipTile func(block, shard int) bool // the partial "exists"
	// failPlan returns the error the n-th call of Plan (from 1) fails with, or nil.
	failPlan func(n int) error
	plans    int // calls of Plan
	// finished is what Finished answers: the output's finished result, if any.
	finished FinishedResult
	// followWaits has Rebalance wait for the merges when it follows the
	// mine phase.
	followWaits bool
	quit        chan struct{} // closed when the test ends (stopWaiting)
	quitOnce    sync.Once

	mu          sync.Mutex
	calls       []string
	tiles       map[[2]int]int // attempts per tile
	inflight    int
	maxInflight int
	tilesEnded  map[int]int // per block
	// maxTail is the most tiles in flight at a tile's start once some
	// block has all its tiles ended.
	maxTail   int
	someEnded bool
	perRun    map[string]int // activities per workflow run
}

func newFake(p PlanResult) *fakeActivities {
	return &fakeActivities{plan: p, tiles: map[[2]int]int{}, tilesEnded: map[int]int{}, perRun: map[string]int{}, quit: make(chan struct{})}
}

func (f *fakeActivities) record(ctx context.Context, call string) {
	info := activity.GetInfo(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	if info.Attempt == 1 {
		f.perRun[info.WorkflowExecution.ID+"@"+info.WorkflowExecution.RunID]++
	}
}

func (f *fakeActivities) Plan(ctx context.Context, in PlanInput) (PlanResult, error) {
	f.record(ctx, "plan")
	f.mu.Lock()
	f.plans++
	n := f.plans
	f.mu.Unlock()
	if f.failPlan != nil {
		if err := f.failPlan(n); err != nil {
			return PlanResult{}, err
		}
	}
	return f.plan, nil
}

func (f *fakeActivities) Finished(ctx context.Context, in FinishedInput) (FinishedResult, error) {
	f.record(ctx, "finished")
	return f.finished, nil
}

func (f *fakeActivities) MineTile(ctx context.Context, in TileInput) (TileResult, error) {
	f.record(ctx, fmt.Sprintf("tile %d %d", in.Block, in.Shard))
	f.mu.Lock()
	f.tiles[[2]int{in.Block, in.Shard}]++
	f.inflight++
	f.maxInflight = max(f.maxInflight, f.inflight)
	if f.someEnded {
		f.maxTail = max(f.maxTail, f.inflight)
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inflight--
		f.tilesEnded[in.Block]++
		f.someEnded = f.someEnded || f.tilesEnded[in.Block] == f.plan.CorpusShards
		f.mu.Unlock()
	}()
	time.Sleep(f.tileDelay)
	if f.failTile != nil {
		if err := f.failTile(in.Block, in.Shard, activity.GetInfo(ctx).Attempt); err != nil {
			return TileResult{}, err
		}
	}
	skipped := f.skipTile != nil && f.skipTile(in.Block, in.Shard)
	return TileResult{Block: in.Block, Shard: in.Shard, Skipped: skipped}, nil
}

func (f *fakeActivities) MergeBlock(ctx context.Context, in MergeInput) (MergeResult, error) {
	f.record(ctx, fmt.Sprintf("merge %d", in.Block))
	if f.mergeDelay > 0 {
		time.Sleep(f.mergeDelay)
		f.record(ctx, fmt.Sprintf("merged %d", in.Block))
	}
	return MergeResult{Block: in.Block, Queries: f.plan.BlockRows(in.Spec, in.Block)}, nil
}

// waitFor waits until call has been recorded, for at most d.
func (f *fakeActivities) waitFor(call string, d time.Duration) {
	for deadline := time.Now().Add(d); !slices.Contains(f.callList(), call) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// Rebalance records "rebalance" when it starts and "rebalanced" when it
// ends. With followWaits, it follows the mine phase as the real one does
// with in.Follow: it ends once every block is merged (or was merged already
// by the plan), or when cancelled. Without, it
// ends at once: a running activity keeps the test environment's clock from
// skipping ahead, and tests that retry wait on that clock.
func (f *fakeActivities) Rebalance(ctx context.Context, in RebalanceInput) (RebalanceResult, error) {
	f.record(ctx, "rebalance")
	// A cancelled activity of the test environment learns it from a
	// heartbeat, if ever, and one whose workflow failed never: the test's end
	// (stopWaiting) or the deadline ends a fake left behind.
	deadline := time.Now().Add(time.Minute)
	for in.Follow && f.followWaits && !f.allMerged(in.Blocks) && time.Now().Before(deadline) {
		activity.RecordHeartbeat(ctx) // cancellation reaches an activity with its heartbeat
		select {
		case <-ctx.Done():
			return RebalanceResult{}, ctx.Err()
		case <-f.quit:
			return RebalanceResult{}, errors.New("the test ended")
		case <-time.After(time.Millisecond):
		}
	}
	f.record(ctx, "rebalanced")
	return RebalanceResult{Parts: in.Blocks, Rows: f.plan.QueryRows}, nil
}

func (f *fakeActivities) Finalize(ctx context.Context, in FinalizeInput) (FinalizeResult, error) {
	f.record(ctx, "finalize")
	return FinalizeResult{Manifest: "_manifest.json", Success: "_SUCCESS"}, nil
}

// stopWaiting ends the fake activities still waiting.
func (f *fakeActivities) stopWaiting() { f.quitOnce.Do(func() { close(f.quit) }) }

func (f *fakeActivities) allMerged(blocks int) bool {
	calls := f.callList()
	for b := range blocks {
		if !f.plan.DoneBlocks.Has(b) && !slices.Contains(calls, fmt.Sprintf("merge %d", b)) {
			return false
		}
	}
	return true
}

func (f *fakeActivities) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func testSpec() Spec {
	return Spec{
		Run: "r1", Epoch: 2, Corpus: "file:///data/corpus/", Queries: "file:///data/queries/",
		Output: "file:///data/out/", QueryBlockRows: 100, MaxParallel: 3,
	}
}

// testPlan is a plan of blocks × shards tiles whose last block is short.
func testPlan(blocks, shards int) PlanResult {
	return PlanResult{
		Fingerprint: "fp", WorkPrefix: "_work/fp/", QueryShards: 2, CorpusShards: shards,
		QueryRows: int64(blocks)*100 - 30, CorpusRows: int64(shards) * 1000, Dim: 8,
		Blocks: blocks, RangeMax: 10,
	}
}

// saRecorder records every search attribute upsert of the parent.
type saRecorder struct {
	mu       sync.Mutex
	phases   []string
	progress []float64
	runs     []string
	epochs   []int64
}

func (r *saRecorder) attach(env *testsuite.TestWorkflowEnvironment) {
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		r.mu.Lock()
		defer r.mu.Unlock()
		if v, ok := sa.GetKeyword(SearchAttrPhase); ok {
			r.phases = append(r.phases, v)
		}
		if v, ok := sa.GetFloat64(SearchAttrProgress); ok {
			r.progress = append(r.progress, v)
		}
		if v, ok := sa.GetKeyword(SearchAttrRun); ok {
			r.runs = append(r.runs, v)
		}
		if v, ok := sa.GetInt64(SearchAttrEpoch); ok {
			r.epochs = append(r.epochs, v)
		}
	})
}

// quietLogger drops the test environment's log: the tests assert on behaviour.
var quietLogger = tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

func newEnv(t *testing.T, f *fakeActivities) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(quietLogger)
	env := s.NewTestWorkflowEnvironment()
	env.SetStartWorkflowOptions(StartOptionsForTest())
	Register(env)
	env.RegisterActivity(f)
	t.Cleanup(f.stopWaiting)
	return env
}

// StartOptionsForTest gives the parent the job's real ID.
func StartOptionsForTest() client.StartWorkflowOptions {
	return client.StartWorkflowOptions{ID: WorkflowID("r1", 2)}
}

// callPositions maps each call to its place in calls; a call made twice is
// an error.
func callPositions(t *testing.T, calls []string) map[string]int {
	t.Helper()
	pos := map[string]int{}
	for i, c := range calls {
		if _, dup := pos[c]; dup {
			t.Errorf("%q called twice", c)
		}
		pos[c] = i
	}
	return pos
}

func TestJobRunsPhasesInOrder(t *testing.T) {
	const blocks, shards = 3, 4
	f := newFake(testPlan(blocks, shards))
	f.tileDelay = 2 * time.Millisecond
	f.followWaits = true
	env := newEnv(t, f)
	var sa saRecorder
	sa.attach(env)
	env.ExecuteWorkflow(WorkflowName, testSpec())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.TilesMined != blocks*shards || res.TilesSkipped != 0 || res.Blocks != blocks {
		t.Errorf("result counts: %+v", res)
	}

	calls := f.callList()
	pos := callPositions(t, calls)
	if calls[0] != "finished" || calls[1] != "plan" || calls[len(calls)-1] != "finalize" || calls[len(calls)-2] != "rebalanced" {
		t.Errorf("calls start with %q, end with %q", calls[:2], calls[len(calls)-2:])
	}
	// The rebalance starts with the mine phase (it is scheduled with the
	// first tiles, which start in any order) and ends after the last merge.
	if pos["rebalance"] > pos["merge 0"] {
		t.Errorf("rebalance started at %d, after the first merge (%d)", pos["rebalance"], pos["merge 0"])
	}
	for b := range blocks {
		m, ok := pos[fmt.Sprintf("merge %d", b)]
		if !ok {
			t.Fatalf("block %d never merged", b)
		}
		for s := range shards {
			tp, ok := pos[fmt.Sprintf("tile %d %d", b, s)]
			if !ok || tp > m {
				t.Errorf("tile %d %d at %d (mined %v), merge at %d", b, s, tp, ok, m)
			}
		}
		if m > pos["rebalanced"] {
			t.Errorf("merge %d after the rebalance ended", b)
		}
	}
	if f.maxInflight > testSpec().MaxParallel {
		t.Errorf("%d tiles in flight, max_parallel is %d", f.maxInflight, testSpec().MaxParallel)
	}

	wantPhases := []string{PhasePlan, PhaseMine, PhaseMerge, PhaseRebalance, PhaseFinalize, PhaseDone}
	if got := dedupe(sa.phases); strings.Join(got, ",") != strings.Join(wantPhases, ",") {
		t.Errorf("phases %v, want %v", got, wantPhases)
	}
	for i := 1; i < len(sa.progress); i++ {
		if sa.progress[i] < sa.progress[i-1] {
			t.Errorf("progress went back: %v", sa.progress)
			break
		}
	}
	if last := sa.progress[len(sa.progress)-1]; last != 1 {
		t.Errorf("final progress %v, want 1", last)
	}
	// Mining moves progress before the first block is whole: more than one
	// upsert between the mine phase and the merge phase.
	if n := countBetween(sa.phases, PhaseMine, PhaseMerge); n < 2 {
		t.Errorf("only %d progress upserts while mining", n)
	}
	for i := range sa.runs {
		if sa.runs[i] != "r1" || sa.epochs[i] != 2 {
			t.Fatalf("search attributes name run %q epoch %d", sa.runs[i], sa.epochs[i])
		}
	}
	for i, ph := range res.Phases {
		if ph.End.Before(ph.Start) || (i > 0 && ph.Start.Before(res.Phases[i-1].End)) {
			t.Errorf("phase times out of order: %+v", res.Phases)
		}
	}
}

func dedupe(s []string) []string {
	var out []string
	for _, v := range s {
		if len(out) == 0 || out[len(out)-1] != v {
			out = append(out, v)
		}
	}
	return out
}

func countBetween(s []string, from, to string) int {
	n := 0
	for _, v := range s {
		switch v {
		case from:
			n++
		case to:
			return n
		}
	}
	return n
}

func TestJobRetriesFailedTile(t *testing.T) {
	f := newFake(testPlan(2, 3))
	f.failTile = func(b, s int, attempt int32) error {
		if b == 1 && s == 2 && attempt < 3 {
			return errors.New("connection reset by peer")
		}
		return nil
	}
	env := newEnv(t, f)
	env.ExecuteWorkflow(WorkflowName, testSpec())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if got := f.tiles[[2]int{1, 2}]; got != 3 {
		t.Errorf("failing tile ran %d times, want 3", got)
	}
	if got := f.tiles[[2]int{0, 0}]; got != 1 {
		t.Errorf("healthy tile ran %d times, want 1", got)
	}
}

func TestJobFailsAtOnceOnInvalidInput(t *testing.T) {
	const msg = `corpus shard "corpus/part-00001.parquet": column "embedding": row 7 has dimension 3, want 8`
	f := newFake(testPlan(4, 5))
	f.followWaits = true
	f.failTile = func(b, s int, _ int32) error {
		if b == 0 && s == 1 {
			// The rebalance is scheduled beside the first tile, but its
			// fake may not have run yet: it must be running for the test
			// to show the job does not wait for it.
			f.waitFor("rebalance", 10*time.Second)
			return temporal.NewNonRetryableApplicationError(msg, ErrInvalidInput, nil)
		}
		return nil
	}
	spec := testSpec()
	spec.MaxParallel = 1 // so that the failure stops the tiles after it
	env := newEnv(t, f)
	var sa saRecorder
	sa.attach(env)
	env.ExecuteWorkflow(WorkflowName, spec)
	err := env.GetWorkflowError()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != ErrInvalidInput || app.Message() != msg || !app.NonRetryable() {
		t.Fatalf("job error %v, want a non-retryable %s error with the message %q", err, ErrInvalidInput, msg)
	}
	if got := f.tiles[[2]int{0, 1}]; got != 1 {
		t.Errorf("invalid tile ran %d times, want 1", got)
	}
	for _, c := range f.callList() {
		if c == "rebalanced" || c == "finalize" || strings.HasPrefix(c, "merge") || c == "tile 0 2" {
			t.Errorf("%s ran after the failure", c)
		}
	}
	// The job failed at once, without waiting for the rebalance that follows
	// the mine phase to acknowledge its cancellation (it was waiting for
	// merges, and learns at its next heartbeat that the job is over).
	if !slices.Contains(f.callList(), "rebalance") {
		t.Errorf("the rebalance never started beside the mine phase: calls %q", f.callList())
	}
	if last := sa.phases[len(sa.phases)-1]; last != PhaseFailed {
		t.Errorf("last phase %q, want %q", last, PhaseFailed)
	}
}

func TestJobRefusesBadSpec(t *testing.T) {
	tests := []struct {
		name  string
		input any
		want  string
	}{
		{"invalid value", func() Spec { s := testSpec(); s.Similarity = "l2"; return s }(), `field "similarity"`},
		{"unknown field", json.RawMessage(`{"run":"r1","epoch":2,"corpus":"c/","output":"o/","num_negative":3}`), `field "num_negative": unknown field`},
		{"missing field", json.RawMessage(`{"run":"r1","corpus":"c/","output":"o/"}`), `field "epoch": is required`},
		{"wrong type", json.RawMessage(`{"run":"r1","epoch":"2","corpus":"c/","output":"o/"}`), `field "epoch": must be a JSON integer, got string`},
		{"wrong type of a pointer", map[string]any{"run": "r1", "epoch": 2, "corpus": "c/", "output": "o/", "max_score": "high"}, `field "max_score": must be a JSON number`},
		{"not an object", json.RawMessage(`["r1", 2]`), `job spec: want a JSON object of fields, got array`},
		{"no input", nil, `job spec: the workflow's input is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(testPlan(1, 1))
			env := newEnv(t, f)
			env.ExecuteWorkflow(WorkflowName, tt.input)
			err := env.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("job error %v, want one containing %q", err, tt.want)
			}
			// A spec that does not decode fails as one that decodes but is
			// invalid does: one non-retryable InvalidInput error.
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrInvalidInput || !app.NonRetryable() {
				t.Errorf("job error %v: want a non-retryable %s error", err, ErrInvalidInput)
			}
			if calls := f.callList(); len(calls) != 0 {
				t.Errorf("activities ran for a bad spec: %v", calls)
			}
		})
	}
}

func TestJobSkipsCheckpointedWork(t *testing.T) {
	const blocks, shards = 3, 4
	p := testPlan(blocks, shards)
	p.DoneTiles = NewBitmap(blocks * shards)
	p.DoneTiles.Set(1*shards + 0) // block 1, shard 0: known at plan time
	p.DoneTiles.Set(1*shards + 3)
	p.DoneBlocks = NewBitmap(blocks)
	p.DoneBlocks.Set(2) // block 2 is merged: nothing of it runs
	f := newFake(p)
	f.skipTile = func(b, s int) bool { return b == 0 && s == 2 } // found by the activity
	env := newEnv(t, f)
	env.ExecuteWorkflow(WorkflowName, testSpec())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, c := range f.callList() {
		if c == "tile 1 0" || c == "tile 1 3" || strings.HasPrefix(c, "tile 2 ") || c == "merge 2" {
			t.Errorf("checkpointed work ran again: %s", c)
		}
	}
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	// Skipped: 2 from the bitmap, 4 of the merged block, 1 found by MineTile.
	if res.TilesSkipped != 7 || res.TilesMined != blocks*shards-7 {
		t.Errorf("mined %d, skipped %d; want %d and 7", res.TilesMined, res.TilesSkipped, blocks*shards-7)
	}
	pr := queryProgress(t, env)
	if pr.TilesSkipped != 7 || pr.TilesDone != blocks*shards || pr.BlocksMerged != blocks {
		t.Errorf("progress after the job: %+v", pr)
	}
}

func queryProgress(t *testing.T, env *testsuite.TestWorkflowEnvironment) Progress {
	t.Helper()
	v, err := env.QueryWorkflow(ProgressQuery)
	if err != nil {
		t.Fatalf("progress query: %v", err)
	}
	var pr Progress
	if err := v.Get(&pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

func TestProgressQuery(t *testing.T) {
	const blocks, shards = 2, 10
	f := newFake(testPlan(blocks, shards))
	spec := testSpec()
	spec.MaxParallel = 1
	env := newEnv(t, f)
	var mid []Progress
	// Query while the job runs: after every third tile's start the workflow is
	// blocked on activities, and a query sees the state it has reached.
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == MineTileActivity || info.ActivityType.Name == FinalizeActivity {
			if v, err := env.QueryWorkflow(ProgressQuery); err == nil {
				var pr Progress
				if v.Get(&pr) == nil {
					mid = append(mid, pr)
				}
			}
		}
	})
	env.ExecuteWorkflow(WorkflowName, spec)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(mid) < 3 {
		t.Fatalf("only %d progress answers while running", len(mid))
	}
	var sawMining, sawRebalance bool
	for i, pr := range mid {
		if pr.TilesTotal != blocks*shards || pr.QueryRows != testPlan(blocks, shards).QueryRows || pr.Run != "r1" {
			t.Errorf("answer %d: %+v", i, pr)
		}
		if i > 0 && (pr.TilesDone < mid[i-1].TilesDone || pr.Fraction < mid[i-1].Fraction) {
			t.Errorf("progress went back: %+v after %+v", pr, mid[i-1])
		}
		sawMining = sawMining || (pr.Phase == PhaseMine && pr.TilesDone > 0 && pr.TilesDone < pr.TilesTotal)
		sawRebalance = sawRebalance || slices.ContainsFunc(pr.Phases, func(p PhaseTime) bool { return p.Name == PhaseRebalance })
	}
	if !sawMining || !sawRebalance {
		t.Errorf("answers saw mining part-way %v, rebalance %v: %+v", sawMining, sawRebalance, mid)
	}
	pr := queryProgress(t, env)
	if pr.Phase != PhaseDone || pr.Fraction != 1 || pr.TilesDone != blocks*shards || pr.RowsMerged != pr.QueryRows {
		t.Errorf("final progress %+v", pr)
	}
	if !strings.Contains(pr.Markdown(), "| tiles | 20 | 20 |") {
		t.Errorf("details table:\n%s", pr.Markdown())
	}
}

// TestMaxParallelIsShared checks that max_parallel bounds the tiles in flight
// over all blocks, and that few blocks still get all the slots.
func TestMaxParallelIsShared(t *testing.T) {
	for _, tt := range []struct{ blocks, shards, maxParallel int }{
		{1, 8, 4}, {3, 4, 4}, {8, 2, 3},
	} {
		t.Run(fmt.Sprintf("%dx%d/%d", tt.blocks, tt.shards, tt.maxParallel), func(t *testing.T) {
			f := newFake(testPlan(tt.blocks, tt.shards))
			f.tileDelay = 5 * time.Millisecond
			spec := testSpec()
			spec.MaxParallel = tt.maxParallel
			env := newEnv(t, f)
			env.ExecuteWorkflow(WorkflowName, spec)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if f.maxInflight > tt.maxParallel {
				t.Errorf("%d tiles in flight, max_parallel %d", f.maxInflight, tt.maxParallel)
			}
			if f.maxInflight < 2 {
				t.Errorf("tiles never overlapped (max %d in flight)", f.maxInflight)
			}
		})
	}
}

// TestSlotsReturnBeforeMerge checks that from version 1 of
// changeSlotsBeforeMerge a block gives back its share of max_parallel when
// its last tile is done, so that the next block mines while it merges; and
// that an execution before the change keeps its slots through the merge.
// Blocks of one tile do so from version 1 of changeOneTileProgress.
func TestSlotsReturnBeforeMerge(t *testing.T) {
	for _, tt := range []struct {
		shards      int    // per block
		change      string // the version pinned
		version     workflow.Version
		beforeMerge bool // block 2's first tile starts before a merge ends
	}{
		{2, changeSlotsBeforeMerge, workflow.DefaultVersion, false},
		{2, changeSlotsBeforeMerge, 1, true},
		// Blocks of one tile, which signal it done from changeOneTileProgress on.
		{1, changeOneTileProgress, workflow.DefaultVersion, false},
		{1, changeOneTileProgress, 1, true},
	} {
		t.Run(fmt.Sprintf("%d shards, %s version %d", tt.shards, tt.change, tt.version), func(t *testing.T) {
			// Two blocks of one slot each start; the third waits for a slot.
			f := newFake(testPlan(3, tt.shards))
			f.mergeDelay = 300 * time.Millisecond
			spec := testSpec()
			spec.MaxParallel = 2
			runAtVersion(t, f, spec, tt.change, tt.version)
			pos := callPositions(t, f.callList())
			firstMerged := min(pos["merged 0"], pos["merged 1"])
			if got := pos["tile 2 0"] < firstMerged; got != tt.beforeMerge {
				t.Errorf("block 2's first tile started before the first merge ended: %v, want %v (calls %v)",
					got, tt.beforeMerge, f.callList())
			}
		})
	}
}

// TestSlotGrants checks that from version 1 of changeSlotGrants the slots of
// a block whose tiles are done go to the blocks still mining when no block
// is left to start, and that an execution before the change leaves them
// free. Block 0 starts with 2 of the 4 slots and blocks 1 and 2 with one
// each; block 0 is done after two rounds, and its slots let blocks 1 and 2
// run their last two tiles each at once.
func TestSlotGrants(t *testing.T) {
	for _, tt := range []struct {
		version workflow.Version
		tail    func(int) bool // of the most tiles in flight once block 0 is done
		want    string
	}{
		{workflow.DefaultVersion, func(n int) bool { return n <= 2 }, "at most 2"},
		{1, func(n int) bool { return n >= 3 }, "at least 3"},
	} {
		t.Run(fmt.Sprintf("version %d", tt.version), func(t *testing.T) {
			f := newFake(testPlan(3, 4))
			f.tileDelay = 400 * time.Millisecond // the grant comes within a tile
			spec := testSpec()
			spec.MaxParallel = 4
			runAtVersion(t, f, spec, changeSlotGrants, tt.version)
			if !tt.tail(f.maxTail) {
				t.Errorf("%d tiles in flight at most once a block was done, want %s (calls %v)", f.maxTail, tt.want, f.callList())
			}
			for b := range 3 {
				for s := range 4 {
					if n := f.tiles[[2]int{b, s}]; n != 1 {
						t.Errorf("tile %d/%d mined %d times", b, s, n)
					}
				}
			}
		})
	}
}

// TestSlotGrantsToBlocksJustStarted checks the grant a block gets in the
// task that starts it: of a resumed job's 4 blocks the last 2 were merged
// before, so blocks 0 and 1 start with the 2 slots each that a share over 4
// gives, and the 4 slots left go to them at once.
func TestSlotGrantsToBlocksJustStarted(t *testing.T) {
	p := testPlan(4, 4)
	p.DoneBlocks = NewBitmap(4)
	p.DoneBlocks.Set(2)
	p.DoneBlocks.Set(3)
	f := newFake(p)
	f.tileDelay = 200 * time.Millisecond
	spec := testSpec()
	spec.MaxParallel = 8
	runAtVersion(t, f, spec, changeSlotGrants, 1)
	if f.maxInflight != 8 {
		t.Errorf("at most %d tiles in flight, want all 8 of blocks 0 and 1 at once", f.maxInflight)
	}
	if len(f.tiles) != 8 {
		t.Errorf("%d tiles mined, want the 8 of blocks 0 and 1: %v", len(f.tiles), f.callList())
	}
}

// runAtVersion runs the job of spec on f with change at version v, and fails
// t if the job fails or had more tiles in flight than spec.MaxParallel.
func runAtVersion(t *testing.T, f *fakeActivities, spec Spec, change string, v workflow.Version) {
	t.Helper()
	env := newEnv(t, f)
	env.OnGetVersion(change, workflow.DefaultVersion, 1).Return(v)
	env.ExecuteWorkflow(WorkflowName, spec)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if f.maxInflight > spec.MaxParallel {
		t.Errorf("%d tiles in flight, max_parallel %d", f.maxInflight, spec.MaxParallel)
	}
}

// TestJobWaitsForStorageInTheOpen checks that a plan whose store does not
// answer is called again by the workflow, which says in its progress why it
// waits, and that the job completes once the store answers.
func TestJobWaitsForStorageInTheOpen(t *testing.T) {
	const down = 3 // calls of Plan that find nothing listening
	const reason = "output s3://b/out/: store does not answer: dial tcp 127.0.0.1:9: connect: connection refused"
	f := newFake(testPlan(1, 2))
	f.failPlan = func(n int) error {
		if n <= down {
			return temporal.NewApplicationError(reason, ErrStorageUnreachable)
		}
		return nil
	}
	env := newEnv(t, f)
	var seen []string
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == PlanActivity {
			seen = append(seen, queryProgress(t, env).Waiting)
		}
	})
	env.ExecuteWorkflow(WorkflowName, testSpec())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if f.plans != down+1 {
		t.Fatalf("plan called %d times, want %d", f.plans, down+1)
	}
	for i, w := range seen {
		want := ""
		if i > 0 {
			want = fmt.Sprintf("waiting for storage, attempt %d: %s", i, reason)
		}
		if w != want {
			t.Errorf("call %d: waiting %q, want %q", i+1, w, want)
		}
	}
	if pr := queryProgress(t, env); pr.Waiting != "" || pr.Phase != PhaseDone {
		t.Errorf("final progress: phase %s, waiting %q", pr.Phase, pr.Waiting)
	}
}
