// Package activities implements the Temporal activities of a hardneg job:
// Finished, Plan, MineTile, MergeBlock, Rebalance and Finalize. They are
// thin: each reads top to bottom as a join of the parts that do the work —
// internal/location (the stores of the job's locations), internal/inputs
// (listing, opening and checking the input shards), internal/job (the plan
// file, the keys of the output store), internal/reader (the rows a tile, a
// merge or a part reads), internal/pipeline (what a worker's tiles share:
// caches, fetches, floors, the turn to search), miner (the algorithms),
// internal/checkpoint (the binary checkpoint files), internal/part and
// internal/manifest (the output) — and they heartbeat while they work, skip
// work whose checkpoint already exists, check the allow-list and the memory
// budget, and turn errors into Temporal's (errors.go).
//
// Inputs and results are the small types of package workflows: keys, counts
// and summaries. Everything large lives in the output store under
// _work/<fingerprint>/: the plan (plan.json), one partial per tile, one file of
// candidate windows per query block, the statistics. Every file but a tile's
// partial is a function of the inputs and the spec alone, so a retried or
// repeated activity writes the same bytes. A tile's partial may leave out
// candidates below the floors its worker learned from the block's other tiles
// (pipeline.FloorBook); what merging the partials gives is the same either way.
//
// Bad input fails with a non-retryable application error of type
// workflows.ErrInvalidInput whose message names the shard, column and row.
package activities

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/semaphore"

	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/location"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/internal/reader"
	"github.com/hardneg/hardneg/miner"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Metrics receives the job's own counters. *metrics.Registry implements it.
type Metrics interface {
	Add(name string, tags map[string]string, delta float64)
}

// Names of the counters the activities add to.
const (
	MetricTiles         = "hardneg_tiles_total"           // tag result: mined or skipped
	MetricQueryRows     = "hardneg_tile_query_rows_total" // query rows of mined tiles
	MetricCorpusRows    = "hardneg_tile_corpus_rows_total"
	MetricBytesRead     = "hardneg_bytes_read_total"
	MetricMiningSeconds = "hardneg_mining_seconds_total"
	MetricBlocksMerged  = "hardneg_blocks_merged_total"
	// MetricPrefilterGaveUp counts the quantized tiles whose int8 prefilter
	// let so many rows through that the search went on exact
	// (miner.Report.GaveUpAt): data the prefilter does not suit.
	MetricPrefilterGaveUp = "hardneg_prefilter_gave_up_total"
)

// Activities holds what the activities need. Register a *Activities with a
// worker: its exported methods are the activities, under the names of the
// workflows package's *Activity constants.
type Activities struct {
	// OpenStore opens the store under a URI prefix; keys are relative to the
	// prefix. Nil means backend.Open.
	OpenStore func(ctx context.Context, uri string) (storage.Store, error)
	// Logger logs what the activities do; nil means slog.Default().
	Logger *slog.Logger
	// Metrics receives counters; nil drops them.
	Metrics Metrics
	// Kernel computes inner products; nil means miner.DefaultKernel().
	Kernel miner.Kernel
	// Workers bounds the goroutines of a tile search; 0 means GOMAXPROCS.
	Workers int
	// QueryCacheBytes bounds the decoded query blocks kept in memory between
	// tiles; 0 keeps only the last block read. Blocks a running tile holds
	// are kept besides (dropping them would free nothing). A worker mining a
	// block's tiles one after another then reads the block's queries once.
	// Whatever is kept adds to a tile's memory (at most 1.5 × its query
	// block and corpus shard + 64 MiB), so raise it only where memory allows.
	QueryCacheBytes int64
	// ShardCacheBytes bounds the decoded corpus shards kept in memory between
	// tiles; 0 keeps only the last shard read, and those a running tile
	// holds, as for QueryCacheBytes. Tiles of different query blocks against
	// one shard tend to reach a worker one after another, and then read the
	// shard once. What is kept adds to a worker's memory between tiles, as
	// QueryCacheBytes does.
	ShardCacheBytes int64
	// Allow is where the jobs' corpus, queries and output may be; nil allows
	// every location (storage.AllowList). Every activity checks its spec
	// against it before it opens a store.
	Allow *storage.AllowList
	// MemoryBudget is the bytes this worker's jobs may use; 0 admits every
	// job. Plan refuses a job whose tile, merge or rebalance would need more
	// (package internal/admission), and MineTile a tile that would.
	MemoryBudget int64
	// HeartbeatEvery is how often a long activity heartbeats (default 5 s,
	// well inside workflows.HeartbeatTimeout).
	HeartbeatEvery time.Duration
	// FollowEvery is how often a Rebalance following the mine phase looks
	// for the next block's candidates (default 100 ms: on S3 10 GETs a
	// second for one job, about 4 cents a day, and on average 50 ms between
	// the last merge and the last part, which the job waits for).
	FollowEvery time.Duration

	// turns lets one tile decode and search at a time in this process
	// (pipeline.Turns, pipeline.TilesInFlight).
	turns pipeline.Turns

	gate     *semaphore.Weighted // the memory gate (memgate.go), made once
	gateOnce sync.Once

	mu      sync.Mutex
	stores  location.Stores
	plans   map[string]*job.Plan // by output URI + fingerprint
	queries pipeline.LRU[*reader.QueryBlock]
	shards  pipeline.LRU[*reader.Shard]
	floats  pipeline.BufPool[float32] // shard buffers, recycled
	fetches pipeline.Fetcher          // shard files fetched by tiles waiting for their turn
	floors  pipeline.FloorBook        // per query block, for its later tiles
}

// New returns Activities that open stores with backend.Open.
func New(logger *slog.Logger, m Metrics) *Activities {
	return &Activities{Logger: logger, Metrics: m}
}

func (a *Activities) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

func (a *Activities) count(name string, tags map[string]string, delta float64) {
	if a.Metrics != nil {
		a.Metrics.Add(name, tags, delta)
	}
}

// store returns the store of a URI prefix, opening it once per process
// (location.Stores).
func (a *Activities) store(ctx context.Context, uri string) (storage.Store, error) {
	return a.stores.Open(ctx, uri, a.OpenStore)
}

// source is where the activities read input shards from: their stores,
// counting the bytes read, heartbeating through long checks.
func (a *Activities) source() inputs.Source {
	return inputs.Source{Store: a.store, Count: a.counting, Beat: beat}
}

// checkAllowed refuses a spec whose corpus, queries or output lies outside
// a.Allow, with a non-retryable InvalidInput error naming the field, the
// location and the allowed prefixes. Plan calls it first, so such a job
// fails at once; the other activities call it too, so that no history
// written by a client can make them touch a location Plan would refuse.
func (a *Activities) checkAllowed(spec workflows.Spec) error {
	for _, f := range []struct{ name, uri string }{
		{"corpus", spec.Corpus}, {"queries", spec.Queries}, {"output", spec.Output},
	} {
		if f.uri == "" {
			continue
		}
		if err := a.Allow.Check(f.uri); err != nil {
			return invalid(fmt.Sprintf("%s %s: refused by this worker's allow-list: %v", f.name, f.uri, err))
		}
	}
	return nil
}

// heartbeat records details now, and then every a.HeartbeatEvery until the
// returned stop is called, so that a long step without natural heartbeat
// points still proves the worker alive. Outside an activity it does nothing.
func (a *Activities) heartbeat(ctx context.Context, details func() any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	activity.RecordHeartbeat(ctx, details())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// beat records one heartbeat when ctx is an activity's.
func beat(ctx context.Context, details ...any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}
