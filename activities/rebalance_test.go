package activities

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/workflows"
)

// TestMissingPositives checks that only distinct ids absent from the output
// count as positives not in the corpus: a repeated id found once is not
// missing, and a repeated absent id is one missing positive.
func TestMissingPositives(t *testing.T) {
	tests := []struct {
		input, found []string
		want         int64
	}{
		{[]string{"a", "b"}, []string{"a", "b"}, 0},
		{[]string{"a", "a", "b"}, []string{"a", "b"}, 0},
		{[]string{"a", "x"}, []string{"a"}, 1},
		{[]string{"x", "x", "a"}, []string{"a"}, 1},
		{[]string{"x", "y"}, nil, 2},
		{nil, nil, 0},
	}
	for _, tt := range tests {
		if got := missingPositives(tt.input, tt.found); got != tt.want {
			t.Errorf("missingPositives(%q, %q) = %d, want %d", tt.input, tt.found, got, tt.want)
		}
	}
}

// TestRebalanceFollowsMerges starts Rebalance with Follow before any block is
// merged, merges the blocks one by one, and checks that it wrote each block's
// part before the next block was merged, and parts byte-identical to those of
// a Rebalance run after every merge (max_negative_frequency on, so the picks
// depend on the blocks before).
func TestRebalanceFollowsMerges(t *testing.T) {
	spec := layout(t, pairsData(300, 90), 3, 2)
	spec.QueryBlockRows, spec.MaxNegativeFrequency, spec.EasyNegatives = 30, 2, 1
	a, ctx := quiet(), context.Background()
	want := partBytes(t, runJobOutput(t, a, spec))

	spec.Output = t.TempDir() + "/"
	spec = spec.WithDefaults()
	plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	for b := range plan.Blocks {
		for s := range plan.CorpusShards {
			if _, err := a.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b, Shard: s}); err != nil {
				t.Fatal(err)
			}
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Rebalance(ctx, workflows.RebalanceInput{Spec: spec, Fingerprint: plan.Fingerprint, Blocks: plan.Blocks, Follow: true})
		done <- err
	}()
	for b := range plan.Blocks {
		if b > 0 {
			waitForFile(t, filepath.Join(strings.TrimPrefix(spec.Output, "file://"), job.PartKey(b-1)), done)
		}
		if _, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("rebalance following the merges: %v", err)
	}
	sameParts(t, "rebalance following the merges", partBytes(t, spec), want)
}

// runJobOutput runs spec's job in-process into a new output folder and
// returns the spec with that output.
func runJobOutput(t *testing.T, a *Activities, spec workflows.Spec) workflows.Spec {
	t.Helper()
	spec.Output = t.TempDir() + "/"
	runJob(t, a, spec)
	return spec
}

// waitForFile waits until name exists, failing if done reports first or 20 s
// pass.
func waitForFile(t *testing.T, name string, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(name); err == nil {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("rebalance ended before writing %s: %v", name, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written after 20 s", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRebalanceFollowStopsWhenCancelled cancels a Rebalance that waits for a
// block never merged: it returns the cancellation, naming what it waited for,
// and without Follow the same missing block is an error at once.
func TestRebalanceFollowStopsWhenCancelled(t *testing.T) {
	spec := layout(t, pairsData(100, 40), 2, 1)
	spec.QueryBlockRows = 20
	spec = spec.WithDefaults()
	a := quiet()
	plan, err := a.Plan(context.Background(), workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	in := workflows.RebalanceInput{Spec: spec, Fingerprint: plan.Fingerprint, Blocks: plan.Blocks}
	if _, err := a.Rebalance(context.Background(), in); err == nil || !strings.Contains(err.Error(), "are missing") {
		t.Errorf("without follow: error %v, want the candidates missing", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*followPoll)
	defer cancel()
	in.Follow = true
	_, err = a.Rebalance(ctx, in)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), job.BlockKey(plan.Fingerprint, 0)) {
		t.Errorf("following, cancelled: error %v, want the deadline, naming block 0's candidates", err)
	}
}
