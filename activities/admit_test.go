package activities

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/admission"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/workflows"
)

// TestAdmissionBoundsMeasuredPeaks measures the peak memory of a tile, a
// block's merge and the rebalance of a job whose range_max keeps every
// corpus row as a candidate (the case of issue 14, scaled down), each in a
// process of its own (measureStep), and checks that admission's estimate of
// each is an upper bound, and not a wild one: the estimate less
// admission.Overhead is at most estimateSlack times the measured growth.
func TestAdmissionBoundsMeasuredPeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("measures peak memory in child processes")
	}
	if raceEnabled {
		t.Skip("peak memory means nothing under the race detector")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc/self/status to read the peak resident memory from")
	}
	const estimateSlack = 6
	root := t.TempDir()
	d := synth.Generate(synth.Config{Corpus: 6000, Queries: 800, Dim: 32, Clusters: 8, MultiPosShare: 0.3, Seed: 7}, 0)
	spec := writeSynth(t, root, d, 2, 2)
	spec.Run, spec.QueryBlockRows, spec.NumNegatives, spec.EasyNegatives, spec.RangeMax = "admit", 800, 5, 2, 1_000_000
	spec = spec.WithDefaults()
	a := quiet()
	plan, p := planJob(t, a, spec)
	j := jobOf(t, p)
	est := j.Estimate()
	tile := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint}
	steps := []struct {
		run  stepRun
		est  int64
		then func() // what the next step needs, run in this process
	}{
		{stepRun{Step: "tile", Tile: tile}, est.Tile, func() {
			for s := range plan.CorpusShards {
				tile.Shard = s
				if _, err := a.MineTile(context.Background(), tile); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{stepRun{Step: "merge", Merge: workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint}}, est.Merge, nil},
		{stepRun{Step: "rebalance", Rebalance: workflows.RebalanceInput{Spec: spec, Fingerprint: plan.Fingerprint, Blocks: plan.Blocks}}, est.Rebalance, nil},
	}
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	for _, st := range steps {
		rep := measureStep(t, root, st.run)
		grew := rep.PeakHWM - rep.StartHWM
		t.Logf("%-9s measured %s (Go held at most %s), estimate %s", st.run.Step, mib(grew), mib(rep.PeakGoHeld), mib(st.est))
		if grew > st.est {
			t.Errorf("%s: measured %s is over the estimate %s", st.run.Step, mib(grew), mib(st.est))
		}
		if st.est-admission.Overhead > estimateSlack*grew {
			t.Errorf("%s: the estimate %s (less %s overhead) is over %d × the measured %s", st.run.Step,
				mib(st.est), mib(admission.Overhead), estimateSlack, mib(grew))
		}
		if st.then != nil {
			st.then()
		}
	}
	if err := admission.Admit(j, est.Merge/2); err == nil || !strings.Contains(err.Error(), "range_max ≤") {
		t.Errorf("Admit with half the merge's estimate: %v, want a refusal naming range_max", err)
	}
}

// TestPlanRefusesWhatDoesNotFit plans a job whose range_max keeps every
// corpus row per query on a worker with too little memory: Plan refuses it
// non-retryably, naming the fields and what fits, and writes no plan. A
// worker with less memory than the planner's refuses the tile itself.
func TestPlanRefusesWhatDoesNotFit(t *testing.T) {
	spec := layout(t, pairsData(400, 100), 2, 1).WithDefaults()
	spec.RangeMax = 3_000_000
	ctx := context.Background()
	small := quiet()
	small.MemoryBudget = admission.Overhead + 1<<20
	_, err := small.Plan(ctx, workflows.PlanInput{Spec: spec})
	if typ, nonRetryable := errorType(err); typ != workflows.ErrInvalidInput || !nonRetryable {
		t.Fatalf("Plan on a small worker: %v, want a non-retryable %s", err, workflows.ErrInvalidInput)
	}
	for _, want := range []string{"range_max 3000000", "this worker has", "query_block_rows ≤ ", "range_max ≤ "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(strings.TrimPrefix(spec.Output, "file://"), "_work")); len(entries) > 0 {
		t.Errorf("a refused job left %d entries in _work/", len(entries))
	}

	plan, err := quiet().Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = small.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 0, Shard: 1})
	if typ, _ := errorType(err); typ != workflows.ErrInvalidInput || !strings.Contains(err.Error(), "tile b0 s1") {
		t.Errorf("MineTile on a smaller worker: %v, want an %s naming the tile", err, workflows.ErrInvalidInput)
	}
}

// jobOf is what the memory estimates need of p's job.
func jobOf(t *testing.T, p *job.Plan) admission.Job {
	t.Helper()
	sel, err := p.Selection()
	if err != nil {
		t.Fatal(err)
	}
	return admissionJob(p, sel)
}
