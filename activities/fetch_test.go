package activities

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/workflows"
)

// TestWaitingTileFetchesItsShard mines a tile while another tile holds the
// search: it must fetch the bytes of its corpus shard and of the query shard
// that is its block while it waits, decode them once it has its turn and
// write the same partial as a tile that read them from the store. The
// fetched bytes go back to the pool when it is done.
func TestWaitingTileFetchesItsShard(t *testing.T) {
	ds := pairsData(3000, 90)
	mine := func(waiting bool) []byte {
		spec := waitingSpec(t, ds)
		a := quiet()
		plan, _ := planJob(t, a, spec)
		in := workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: 1, Shard: 2}
		if !waiting {
			mineTile(t, a, in)
		} else {
			// Its corpus shard and query shard 1, which is its block.
			mineWaiting(t, a, in, "the waiting tile's fetches", func() bool { return a.fetches.Fetches() == 2 })
			if n := a.fetches.Fetches(); n != 0 {
				t.Errorf("%d fetches still held after the tile", n)
			}
			if a.fetches.PooledBytes() == 0 {
				t.Errorf("the fetched bytes did not go back to the pool")
			}
		}
		return partial(t, spec, plan, 1, 2)
	}
	if got, want := mine(true), mine(false); !bytes.Equal(got, want) {
		t.Errorf("the partial of a tile decoded from fetched bytes differs from one read from the store (%d vs %d bytes)", len(got), len(want))
	}
}

// TestLoadShardAfterFailedFetch checks that a tile whose fetch failed reads
// its shard from the store.
func TestLoadShardAfterFailedFetch(t *testing.T) {
	spec := layout(t, pairsData(600, 20), 2, 1).WithDefaults()
	a := quiet()
	_, p := planJob(t, a, spec)
	failed := pipeline.FetchedSet{workflows.WithSlash(spec.Corpus) + p.Corpus[1].Key: &pipeline.Fetched{Err: errors.New("connection reset")}}
	sh, err := a.loadShard(context.Background(), p, 1, reader.Needs{}, failed)
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Release()
	if sh.Emb.Rows != int(p.Corpus[1].Rows) || sh.IDs.Len() != sh.Emb.Rows {
		t.Errorf("shard read after a failed fetch: %d rows, %d ids; want %d", sh.Emb.Rows, sh.IDs.Len(), p.Corpus[1].Rows)
	}
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWaitingTileTakesCachedData mines a tile whose query block and shard a
// worker has cached while another tile holds the search: it must take them
// (and build its tile) before its turn, fetch nothing, and write the same
// partial as when it mined after the same tiles with no other tile beside.
func TestWaitingTileTakesCachedData(t *testing.T) {
	ds := pairsData(3000, 90)
	mine := func(waiting bool) []byte {
		spec := waitingSpec(t, ds)
		a := quiet()
		a.QueryCacheBytes, a.ShardCacheBytes = 1<<30, 1<<30
		plan, p := planJob(t, a, spec)
		tile := func(b, s int) workflows.TileInput {
			return workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b, Shard: s}
		}
		// Cache block 1 and shard 2 (and raise block 1's floors, both ways).
		mineTile(t, a, tile(0, 2))
		mineTile(t, a, tile(1, 1))
		if !waiting {
			mineTile(t, a, tile(1, 2))
		} else {
			mineWaiting(t, a, tile(1, 2), "the waiting tile to hold block 1 and shard 2", func() bool {
				held := a.queries.Busy(queryBlockKey(p, 1)) && a.shards.Busy(shardKey(p, 2, reader.Needs{}))
				if n := a.fetches.Fetches(); held && n != 0 {
					t.Errorf("a tile with its data cached fetched %d objects", n)
				}
				return held
			})
		}
		return partial(t, spec, plan, 1, 2)
	}
	if got, want := mine(true), mine(false); !bytes.Equal(got, want) {
		t.Errorf("the partial of a tile that took cached data before its turn differs from one mined with no other tile beside")
	}
}

// planJob plans spec with a and returns the plan and the plan file.
func planJob(t testing.TB, a *Activities, spec workflows.Spec) (workflows.PlanResult, *job.Plan) {
	t.Helper()
	ctx := context.Background()
	plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := a.loadPlan(ctx, spec, plan.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return plan, p
}

// waitingSpec lays ds (90 queries) out as 3 corpus shards and 2 query shards,
// one query block each, for the tests of a tile waiting for its turn.
func waitingSpec(t *testing.T, ds dataSet) workflows.Spec {
	spec := layout(t, ds, 3, 2)
	spec.QueryBlockRows = 45
	return spec.WithDefaults()
}

func mineTile(t *testing.T, a *Activities, in workflows.TileInput) {
	t.Helper()
	if _, err := a.MineTile(context.Background(), in); err != nil {
		t.Fatal(err)
	}
}

// mineWaiting mines in with a while the test holds the search, as another
// tile's search would: ready must come true before the test lets go.
func mineWaiting(t *testing.T, a *Activities, in workflows.TileInput, what string, ready func() bool) {
	t.Helper()
	a.turns.Take(func() error { return nil })
	done := make(chan error, 1)
	go func() {
		_, err := a.MineTile(context.Background(), in)
		done <- err
	}()
	waitFor(t, what, ready)
	a.turns.Give()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// partial reads the partial of tile (b, s) of a job.
func partial(t *testing.T, spec workflows.Spec, plan workflows.PlanResult, b, s int) []byte {
	return mustRead(t, filepath.Join(strings.TrimPrefix(spec.Output, "file://"), job.TileKey(plan.Fingerprint, b, s)))
}
