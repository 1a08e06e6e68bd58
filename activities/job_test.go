package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/backend"
	"github.com/hardneg/hardneg/workflows"
)

// flakyStore fails the first Put of every key whose name contains one of
// failOn, as a store that drops a connection would.
type flakyStore struct {
	storage.Store
	failOn []string
	mu     *sync.Mutex
	failed map[string]bool
}

func (f flakyStore) Put(ctx context.Context, key string, r io.Reader) error {
	f.mu.Lock()
	fail := !f.failed[key] && slices.ContainsFunc(f.failOn, func(s string) bool { return strings.Contains(key, s) })
	if fail {
		f.failed[key] = true
	}
	f.mu.Unlock()
	if fail {
		io.Copy(io.Discard, r)
		return errors.New("connection reset by peer")
	}
	return f.Store.Put(ctx, key, r)
}

// flaky returns a store opener whose stores fail the first write of each key
// containing one of failOn, and the keys that failed.
func flaky(failOn ...string) (func(context.Context, string) (storage.Store, error), map[string]bool) {
	var mu sync.Mutex
	failed := map[string]bool{}
	return func(ctx context.Context, uri string) (storage.Store, error) {
		s, _, err := backend.Open(ctx, uri)
		if err != nil {
			return nil, err
		}
		return flakyStore{Store: s, failOn: failOn, mu: &mu, failed: failed}, nil
	}, failed
}

// runWorkflow runs the job through the MineHardNegatives workflow in
// Temporal's test environment with real activities.
func runWorkflow(t *testing.T, a *Activities, spec workflows.Spec) workflows.Result {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	workflows.Register(env)
	env.RegisterActivity(a)
	env.ExecuteWorkflow(workflows.WorkflowName, spec)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("job: %v", err)
	}
	var res workflows.Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// partBytes reads every part of an output, by name.
func partBytes(t *testing.T, spec workflows.Spec) map[string][]byte {
	t.Helper()
	dir := strings.TrimPrefix(spec.Output, "file://")
	names, _ := filepath.Glob(filepath.Join(dir, "part-*.parquet"))
	parts := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		parts[filepath.Base(n)] = b
	}
	return parts
}

func sameParts(t *testing.T, what string, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%s: %d parts, want %d", what, len(got), len(want))
	}
	for name, w := range want {
		if !bytes.Equal(got[name], w) {
			t.Errorf("%s: %s differs (%d bytes, want %d)", what, name, len(got[name]), len(w))
		}
	}
}

// TestWorkflowWithActivitiesIsDeterministic runs the job through the workflow
// with real activities and a store that fails the first write of every
// partial and part (so every tile and the rebalance are retried), and checks
// the parts against the miner in one piece and byte for byte against runs
// that went differently: no failures and one tile at a time, a crash after
// half the tiles, and the same rows cut into other shards.
func TestWorkflowWithActivitiesIsDeterministic(t *testing.T) {
	ds := pairsData(260, 60)
	edit := func(s *workflows.Spec) {
		s.QueryBlockRows, s.EasyNegatives, s.MaxNegativeFrequency, s.MaxParallel = 20, 1, 4, 4
	}
	spec := layout(t, ds, 4, 2)
	edit(&spec)
	a := quiet()
	var failed map[string]bool
	a.OpenStore, failed = flaky("tile-", "part-")
	res := runWorkflow(t, a, spec)
	if len(failed) != 12+3 {
		t.Errorf("%d writes failed once, want 15 (12 tiles, 3 parts): %v", len(failed), failed)
	}
	if res.TilesMined != res.TilesTotal || res.TilesTotal != 12 || res.Blocks != 3 {
		t.Errorf("result %+v: want 3 blocks × 4 shards, all mined", res)
	}
	got := normalise(readParts(t, spec))
	want := normalise(reference(t, ds, spec))
	if !slicesEqual(got, want) {
		t.Fatalf("parts differ from the miner in one piece")
	}
	first := partBytes(t, spec)

	// One tile at a time, no failures.
	calm := layout(t, ds, 4, 2)
	edit(&calm)
	calm.MaxParallel = 1
	runWorkflow(t, quiet(), calm)
	sameParts(t, "max_parallel 1", partBytes(t, calm), first)

	// A crash after half the tiles: the next run (a new worker) finishes.
	crash := layout(t, ds, 4, 2)
	edit(&crash)
	crashed := quiet()
	ctx := context.Background()
	plan, err := crashed.Plan(ctx, workflows.PlanInput{Spec: crash.WithDefaults()})
	if err != nil {
		t.Fatal(err)
	}
	for s := range 2 {
		if _, err := crashed.MineTile(ctx, workflows.TileInput{Spec: crash.WithDefaults(), Fingerprint: plan.Fingerprint, Block: 1, Shard: s}); err != nil {
			t.Fatal(err)
		}
	}
	res = runWorkflow(t, quiet(), crash)
	if res.TilesSkipped != 2 || res.TilesMined != 10 {
		t.Errorf("after a crash: mined %d, skipped %d; want 10 and 2", res.TilesMined, res.TilesSkipped)
	}
	sameParts(t, "after a crash", partBytes(t, crash), first)

	// The same rows in other shards: another fingerprint, the same parts.
	reshard := layout(t, ds, 3, 5)
	edit(&reshard)
	runJob(t, quiet(), reshard)
	sameParts(t, "other sharding", partBytes(t, reshard), first)
}

func slicesEqual(a, b []outRow) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !rowsEqual(a[i], b[i]) {
			return false
		}
	}
	return true
}

func rowsEqual(a, b outRow) bool {
	return a.QueryID == b.QueryID && slices.Equal(a.PositiveIDs, b.PositiveIDs) &&
		slices.Equal(a.PositiveScores, b.PositiveScores) && slices.Equal(a.NegativeIDs, b.NegativeIDs) &&
		slices.Equal(a.NegativeScores, b.NegativeScores) && slices.Equal(a.NegativeKinds, b.NegativeKinds) &&
		slices.Equal(a.NegativeRanks, b.NegativeRanks)
}

// TestCheckpointsAreSkipped checks that a tile or block whose checkpoint
// exists is not redone, and that a new plan reports them.
func TestCheckpointsAreSkipped(t *testing.T) {
	spec := layout(t, pairsData(100, 30), 2, 1)
	spec.QueryBlockRows = 16
	spec = spec.WithDefaults()
	a := quiet()
	ctx := context.Background()
	plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if plan.DoneTiles != nil || plan.DoneBlocks != nil {
		t.Fatalf("fresh plan reports done work: %v %v", plan.DoneTiles, plan.DoneBlocks)
	}
	tile := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 1, Shard: 1}
	for i, wantSkipped := range []bool{false, true} {
		r, err := a.MineTile(ctx, tile)
		if err != nil || r.Skipped != wantSkipped {
			t.Fatalf("MineTile call %d: skipped %v, err %v; want skipped %v", i+1, r.Skipped, err, wantSkipped)
		}
	}
	if _, err := a.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 1, Shard: 0}); err != nil {
		t.Fatal(err)
	}
	merge := workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 1}
	for i, wantSkipped := range []bool{false, true} {
		r, err := a.MergeBlock(ctx, merge)
		if err != nil || r.Skipped != wantSkipped || r.Queries != 14 {
			t.Fatalf("MergeBlock call %d: %+v, err %v; want skipped %v and 14 queries", i+1, r, err, wantSkipped)
		}
	}
	again, err := quiet().Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if again.Fingerprint != plan.Fingerprint {
		t.Fatalf("fingerprint changed: %s, then %s", plan.Fingerprint, again.Fingerprint)
	}
	for i := range plan.Tiles() {
		if want := i == 1*2+0 || i == 1*2+1; again.DoneTiles.Has(i) != want {
			t.Errorf("tile %d done = %v, want %v", i, again.DoneTiles.Has(i), want)
		}
	}
	if !again.DoneBlocks.Has(1) || again.DoneBlocks.Has(0) {
		t.Errorf("done blocks %08b, want block 1 only", again.DoneBlocks)
	}
}

// TestFingerprint checks what the fingerprint depends on.
func TestFingerprint(t *testing.T) {
	spec := layout(t, pairsData(60, 10), 2, 1)
	spec.OutputFormat = "" // the default, as the JSON specs below leave it
	spec = spec.WithDefaults()
	ctx := context.Background()
	fp := func(s workflows.Spec) string {
		p, err := quiet().Plan(ctx, workflows.PlanInput{Spec: s})
		if err != nil {
			t.Fatal(err)
		}
		return p.Fingerprint
	}
	base := fp(spec)
	same := spec
	same.MaxParallel, same.Precision, same.Force = 3, "quantized", true
	if fp(same) != base {
		t.Errorf("max_parallel, precision or force changed the fingerprint")
	}
	// A client that sends only what it sets and one that sends every default
	// start the same job.
	for _, js := range []string{
		`{"run":%q,"epoch":3,"corpus":%q,"queries":%q,"output":%q,"seed":5}`,
		`{"run":%q,"epoch":3,"corpus":%q,"queries":%q,"output":%q,"seed":5,"id_column":"id","embedding_column":"embedding",
		"positives_column":"positive_ids","similarity":"cosine","num_negatives":3,"range_min":0,"range_max":0,
		"sampling_strategy":"top","easy_negatives":0,"fill_with_easy":false,"max_negative_frequency":0,
		"output_format":"FORMAT","precision":"exact","query_block_rows":ROWS,"max_parallel":PARALLEL,"force":false}`,
	} {
		js = strings.NewReplacer("FORMAT", workflows.OutputFormats[0], "ROWS", fmt.Sprint(workflows.DefaultQueryBlockRows),
			"PARALLEL", fmt.Sprint(workflows.DefaultMaxParallel)).Replace(js)
		s, err := workflows.DecodeSpec(strings.NewReader(fmt.Sprintf(js, spec.Run, spec.Corpus, spec.Queries, spec.Output)))
		if err != nil {
			t.Fatal(err)
		}
		if fp(s) != base {
			t.Errorf("spec %s: another fingerprint", js)
		}
	}
	for name, edit := range map[string]func(*workflows.Spec){
		"num_negatives": func(s *workflows.Spec) { s.NumNegatives = 5 },
		"seed":          func(s *workflows.Spec) { s.Seed = 99 },
		"epoch":         func(s *workflows.Spec) { s.Epoch++ },
		"block rows":    func(s *workflows.Spec) { s.QueryBlockRows = 4 },
	} {
		s := spec
		edit(&s)
		if fp(s) == base {
			t.Errorf("%s did not change the fingerprint", name)
		}
	}
	// A changed shard changes it too.
	dir := strings.TrimPrefix(spec.Corpus, "file://")
	if err := os.WriteFile(filepath.Join(dir, "shard-001.parquet"), mustRead(t, filepath.Join(dir, "shard-000.parquet")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := quiet().Plan(ctx, workflows.PlanInput{Spec: spec}); err == nil {
		t.Errorf("a corpus of two identical shards (duplicate ids) was accepted")
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
