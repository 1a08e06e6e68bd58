package e2e

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// chaosData is big enough that the job on three workers lasts through the
// chaos schedule: 8 query blocks × 8 corpus shards = 64 tiles.
var chaosData = synth.Config{Corpus: 40000, Queries: 4000, Dim: 64, Clusters: 32, CorpusShards: 8, QueryShards: 2,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 17}

// Chaos schedule: chaosKills SIGKILLs of a random worker, each started again
// at once, and one SIGKILL and restart of the Temporal dev server after the
// kill numbered chaosServerAfter. Each event fires when the job has finished a
// randomly drawn number of tiles, not after a wall-clock delay, so the
// schedule lands mid-job however fast the machine mines.
const (
	chaosWorkers     = 3
	chaosKills       = 5
	chaosServerAfter = 3
	chaosFirstTile   = 2  // the earliest event waits for this many tiles
	chaosLastTile    = 40 // of 64: the last event comes well before the end
)

// chaosThresholds draws n distinct tile counts in [chaosFirstTile,
// chaosLastTile], ascending: event i fires once that many tiles are done.
func chaosThresholds(rng *rand.Rand, n int) []int {
	picked := rng.Perm(chaosLastTile - chaosFirstTile + 1)[:n]
	for i := range picked {
		picked[i] += chaosFirstTile
	}
	slices.Sort(picked)
	return picked
}

// chaosSeed seeds the schedule: HARDNEG_CHAOS_SEED when set, else the clock.
// The test logs it, so a failing schedule can be run again.
func chaosSeed() uint64 {
	if s, err := strconv.ParseUint(os.Getenv("HARDNEG_CHAOS_SEED"), 10, 64); err == nil {
		return s
	}
	return uint64(time.Now().UnixNano())
}

// TestChaos runs a full job on three worker processes while a driver kills a
// random worker with SIGKILL at random moments (five times, each started again
// at once) and kills and restarts the Temporal dev server once mid-job, on the
// same database file and port. The parts must be byte-identical to the
// fault-free in-process run, _SUCCESS present, _work/ gone, and every tile
// counted once: mined, or found done by a retry.
//
// Its own dev server (not the shared one) is the one restarted. Run it alone
// with `make chaos`.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers, kills processes")
	}
	seed := chaosSeed()
	t.Logf("chaos seed %d (HARDNEG_CHAOS_SEED=%d replays this schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	srv, opts, logf := startChaosServer(ctx, t)
	var err error
	defer func() { srv.Stop() }()

	local := dataset(t, "chaos/in/", chaosData)
	sp := textSpec("e2e-chaos", "s3://"+bucket+"/chaos/in/", "s3://"+bucket+"/chaos/out/")
	// More tiles in flight than workers: while a killed worker's tile waits
	// out its heartbeat timeout, the others keep mining.
	sp.QueryBlockRows, sp.MaxParallel = 500, 6
	want := reference(t, local, sp)

	const queue = "e2e-chaos"
	workers := make([]*worker, chaosWorkers)
	for i := range workers {
		workers[i] = startWorkerWith(t, workerConfig{queue: queue, address: srv.Addr})
	}
	c := dialAddr(t, srv.Addr)
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	at := chaosThresholds(rng, chaosKills+1)
	t.Logf("events after %v tiles done", at)

	out := outStore(t, "chaos/out/")
	kills, restarts, done := 0, 0, 0
	for _, n := range at {
		// Tiles can finish several at a time: each event waits for at least
		// one tile more than the last saw, so none fire together.
		n = max(n, done+1)
		if done = waitTiles(ctx, t, out, n, func() bool { return closed(ctx, c, run.GetID()) }); done < n {
			t.Fatalf("the job ended after %d kills and %d server restarts (%d tiles checkpointed): too short for the chaos schedule", kills, restarts, done)
		}
		if kills == chaosServerAfter && restarts == 0 {
			srv.Kill()
			if srv, err = devenv.StartTemporal(ctx, opts, logf); err != nil {
				t.Fatalf("restart the dev server on the same database: %v", err)
			}
			restarts++
			t.Logf("%5.1fs: dev server killed and restarted on %s (%d/64 tiles done)", time.Since(start).Seconds(), srv.Addr, done)
			continue
		}
		i := rng.IntN(len(workers))
		workers[i].kill()
		workers[i].restart(t)
		kills++
		t.Logf("%5.1fs: worker %d killed with SIGKILL and started again (%d/64 tiles done)", time.Since(start).Seconds(), i, done)
	}

	res, err := waitClosed(ctx, t, c, run.GetID())
	if err != nil {
		t.Fatalf("job failed under chaos: %v", err)
	}
	a := countAttempts(jobHistories(t, c, run.GetID()))
	t.Logf("job done in %.1fs after %d worker kills and %d server restarts: %d tiles mined, %d found done; %d of %d activities ran more than once %v",
		time.Since(start).Seconds(), kills, restarts, res.TilesMined, res.TilesSkipped, a.retried, a.activities, a.names)
	checkOutput(t, outStore(t, "chaos/out/"), want)
	if res.TilesMined+res.TilesSkipped != res.TilesTotal || res.TilesTotal != 64 {
		t.Errorf("result %+v: want 64 tiles, each mined or found done once", res)
	}
}

// waitTiles waits until the job has checkpointed at least n tiles, or ended
// (ended reports it), and returns how many it has. It counts the partials in
// the output's _work/ rather than asking the job: after a worker is killed, a
// progress query waits seconds on that worker's sticky queue, long enough to
// miss a whole stretch of the schedule.
func waitTiles(ctx context.Context, t *testing.T, out storage.Store, n int, ended func() bool) int {
	t.Helper()
	for {
		objs, err := out.List(ctx, "_work/")
		if err != nil {
			t.Fatalf("list the job's checkpoints: %v", err)
		}
		tiles := 0
		for _, o := range objs {
			if strings.Contains(o.Key, "/tile-") {
				tiles++
			}
		}
		if tiles >= n || ended() || ctx.Err() != nil {
			return tiles
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// closed reports whether the workflow has closed. A server that does not
// answer counts as not closed.
func closed(ctx context.Context, c client.Client, id string) bool {
	d, err := c.DescribeWorkflow(ctx, id, "")
	return err == nil && d.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
}

// waitClosed waits for the job's result, riding through a server that is
// still coming back: errors that are not the job's own are retried.
func waitClosed(ctx context.Context, t *testing.T, c client.Client, id string) (workflows.Result, error) {
	t.Helper()
	for {
		var res workflows.Result
		err := c.GetWorkflow(ctx, id, "").Get(ctx, &res)
		var wee *temporal.WorkflowExecutionError
		if err == nil || errors.As(err, &wee) || ctx.Err() != nil {
			return res, err
		}
		t.Logf("waiting for the job: %v", err)
		time.Sleep(time.Second)
	}
}

// startChaosServer starts a dev server on fixed free ports and a database
// file, so that TestChaos can kill it and start it again where the workers
// and the client keep dialling.
func startChaosServer(ctx context.Context, t *testing.T) (*devenv.Temporal, devenv.TemporalOptions, *os.File) {
	t.Helper()
	// The restarted server must come back on the same port: the workers and
	// the client keep dialling it.
	dir := t.TempDir()
	opts := devenv.TemporalOptions{DBFile: filepath.Join(dir, "temporal.db"), Headless: true}
	var err error
	if opts.Port, err = devenv.FreePort(); err != nil {
		t.Fatal(err)
	}
	if opts.UIPort, err = devenv.FreePort(); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	srv, err := devenv.StartTemporal(ctx, opts, logf)
	if err != nil {
		t.Fatal(err)
	}
	return srv, opts, logf
}
