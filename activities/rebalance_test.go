package activities

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/backend"
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
	plan := mineTiles(t, a, spec, false)
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

// mineTiles plans spec's job and mines every tile, and with merge merges
// every block: what Rebalance reads.
func mineTiles(t testing.TB, a *Activities, spec workflows.Spec, merge bool) workflows.PlanResult {
	t.Helper()
	ctx := context.Background()
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
		if !merge {
			continue
		}
		if _, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b}); err != nil {
			t.Fatal(err)
		}
	}
	return plan
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*followEvery)
	defer cancel()
	in.Follow = true
	_, err = a.Rebalance(ctx, in)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), job.BlockKey(plan.Fingerprint, 0)) {
		t.Errorf("following, cancelled: error %v, want the deadline, naming block 0's candidates", err)
	}
}

// lookFailingStore fails the first n opens of every block checkpoint with err.
type lookFailingStore struct {
	storage.Store
	n     int
	err   error
	mu    *sync.Mutex
	opens map[string]int
}

func (s lookFailingStore) Open(ctx context.Context, key string) (storage.Object, error) {
	s.mu.Lock()
	s.opens[key]++
	fail := strings.Contains(key, "/block-") && s.opens[key] <= s.n
	s.mu.Unlock()
	if fail {
		return nil, fmt.Errorf("open %s: %w", key, s.err)
	}
	return s.Store.Open(ctx, key)
}

// TestRebalanceFollowRetriesLooks has the store fail the first reads of every
// block's candidates. Following, Rebalance looks again after an error worth
// retrying and writes the same parts; an error no attempt can mend (access
// denied) fails it at once, as does a look that fails more than
// followFailures times in a row; without Follow the first error fails it.
func TestRebalanceFollowRetriesLooks(t *testing.T) {
	spec := layout(t, pairsData(120, 60), 2, 1)
	spec.QueryBlockRows = 20
	a := quiet()
	want := partBytes(t, runJobOutput(t, a, spec))
	tests := []struct {
		name   string
		n      int
		err    error
		follow bool
		ok     bool
	}{
		{"transient, following", 3, errors.New("connection reset by peer"), true, true},
		{"transient, not following", 1, errors.New("connection reset by peer"), false, false},
		{"access denied, following", 1, storage.ErrPermission, true, false},
		{"too many in a row, following", followFailures + 1, errors.New("connection reset by peer"), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec
			sp.Output = t.TempDir() + "/"
			sp = sp.WithDefaults()
			p := mineTiles(t, a, sp, true)
			var mu sync.Mutex
			opens := map[string]int{}
			b := &Activities{Logger: a.Logger, FollowEvery: 5 * time.Millisecond, OpenStore: func(ctx context.Context, uri string) (storage.Store, error) {
				s, _, err := backend.Open(ctx, uri)
				return lookFailingStore{Store: s, n: tt.n, err: tt.err, mu: &mu, opens: opens}, err
			}}
			_, err := b.Rebalance(context.Background(), workflows.RebalanceInput{Spec: sp, Fingerprint: p.Fingerprint, Blocks: p.Blocks, Follow: tt.follow})
			if (err == nil) != tt.ok {
				t.Fatalf("error %v, want success %v", err, tt.ok)
			}
			if tt.ok {
				sameParts(t, tt.name, partBytes(t, sp), want)
			} else if !strings.Contains(err.Error(), job.BlockKey(p.Fingerprint, 0)) {
				t.Errorf("error %v does not name the block", err)
			}
		})
	}
}
