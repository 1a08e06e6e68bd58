package workflows

import (
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/workflow"
)

// finishedOutput is what Finished answers for an output that holds the
// finished result of testPlan(3, 4).
func finishedOutput() FinishedResult {
	p := testPlan(3, 4)
	return FinishedResult{
		Finished: true, Fingerprint: p.Fingerprint, Manifest: "_manifest.json",
		QueryShards: p.QueryShards, CorpusShards: p.CorpusShards,
		QueryRows: p.QueryRows, CorpusRows: p.CorpusRows, Blocks: p.Blocks,
		Rebalance: RebalanceResult{Parts: 3, Rows: p.QueryRows, HardNegatives: 810},
	}
}

// TestJobReusesFinishedOutput checks which jobs return the output's finished
// result without mining: a new one whose inputs have the output's
// fingerprint does; one with spec.Force, one whose output is not finished (or
// of another fingerprint: Finished says no), and one that began before
// changeReuseOutput mine.
func TestJobReusesFinishedOutput(t *testing.T) {
	tests := []struct {
		name       string
		finished   FinishedResult
		force      bool
		oldVersion bool
		reused     bool
	}{
		{name: "finished output of the same fingerprint", finished: finishedOutput(), reused: true},
		{name: "force", finished: finishedOutput(), force: true},
		{name: "another fingerprint", finished: FinishedResult{Reason: "the output's fingerprint is aaa, the inputs' is now fp"}},
		{name: "no _SUCCESS", finished: FinishedResult{Reason: "no _SUCCESS in the output"}},
		{name: "execution from before the change", finished: finishedOutput(), oldVersion: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(testPlan(3, 4))
			f.finished = tt.finished
			env := newEnv(t, f)
			if tt.oldVersion {
				env.OnGetVersion(changeReuseOutput, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
			}
			var sa saRecorder
			sa.attach(env)
			spec := testSpec()
			spec.Force = tt.force
			env.ExecuteWorkflow(WorkflowName, spec)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("job failed: %v", err)
			}
			var res Result
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			calls := f.callList()
			asked := slices.Contains(calls, "finished")
			if want := !tt.force && !tt.oldVersion; asked != want {
				t.Errorf("Finished called %v, want %v (calls %v)", asked, want, calls)
			}
			if !tt.reused {
				if res.Reused || res.TilesMined != 12 || !slices.Contains(calls, "plan") || !slices.Contains(calls, "finalize") {
					t.Errorf("job did not mine: result %+v, calls %v", res, calls)
				}
				return
			}
			if !slices.Equal(calls, []string{"finished"}) {
				t.Errorf("a reused job ran %v, want Finished alone", calls)
			}
			want := finishedOutput()
			if !res.Reused || res.TilesMined != 0 || res.TilesSkipped != 0 || res.TilesTotal != 12 ||
				res.Blocks != 3 || res.Queries != want.QueryRows || res.Fingerprint != want.Fingerprint ||
				res.Manifest != "_manifest.json" || res.Output != spec.Output || res.Rebalance != want.Rebalance {
				t.Errorf("reused result %+v", res)
			}
			if last := sa.phases[len(sa.phases)-1]; last != PhaseDone {
				t.Errorf("last phase %q, want %q", last, PhaseDone)
			}
			v, err := env.QueryWorkflow(ProgressQuery)
			if err != nil {
				t.Fatal(err)
			}
			var p Progress
			if err := v.Get(&p); err != nil {
				t.Fatal(err)
			}
			if !p.Reused || p.Phase != PhaseDone || p.Fraction != 1 || p.TilesDone != 0 || p.TilesTotal != 12 {
				t.Errorf("progress of a reused job %+v", p)
			}
			if !strings.Contains(p.Markdown(), "Reused") {
				t.Errorf("current details do not say the result was reused:\n%s", p.Markdown())
			}
		})
	}
}
