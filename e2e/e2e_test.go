package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/workflows"
)

// env is what TestMain starts once for every test: the servers and a built
// worker binary.
var env struct {
	temporal  *devenv.Temporal
	s3        *devenv.S3
	workerBin string
	tmp       string
}

const bucket = "e2e"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "hardneg-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	env.tmp = tmp
	logf, _ := os.Create(filepath.Join(tmp, "servers.log"))
	defer logf.Close()
	if env.temporal, err = devenv.StartTemporal(ctx, devenv.TemporalOptions{Headless: true}, logf); err != nil {
		fmt.Fprintln(os.Stderr, "start Temporal dev server:", err)
		return 1
	}
	defer env.temporal.Stop()
	if env.s3, err = devenv.StartS3(ctx, filepath.Join(tmp, "s3"), 0, "e2eaccess", "e2e-secret-key-0123", logf); err != nil {
		fmt.Fprintln(os.Stderr, "start versitygw:", err)
		return 1
	}
	defer env.s3.Stop()
	fmt.Printf("e2e: Temporal dev server on %s (pid %d), versitygw on %s (pid %d)\n",
		env.temporal.Addr, env.temporal.Pid(), env.s3.Endpoint, env.s3.Pid())
	for _, kv := range append(env.s3.Env(), "TEMPORAL_ADDRESS="+env.temporal.Addr) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	env.workerBin = filepath.Join(tmp, "worker")
	build := exec.Command("go", "build", "-o", env.workerBin, "../worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build worker:", err)
		return 1
	}
	return m.Run()
}

// spec is the job of the tests: pairs mode with every selection feature on.
func spec(run, in, out string) workflows.Spec {
	margin := 0.05
	return workflows.Spec{
		Run: run, Epoch: 0,
		Corpus: in + "corpus/", Queries: in + "queries/", Output: out,
		NumNegatives: 4, RelativeMargin: &margin, EasyNegatives: 2, FillWithEasy: true,
		SamplingStrategy: "random", MaxNegativeFrequency: 20, Seed: 3,
		QueryBlockRows: 500, MaxParallel: 2,
	}
}

// textSpec is spec with the texts of the synthetic data carried through, in
// sentence-transformers' default format: the texts are then read over S3
// where the parts are written.
func textSpec(run, in, out string) workflows.Spec {
	sp := spec(run, in, out)
	sp.TextColumn = "text"
	return sp
}

var data = synth.Config{Corpus: 6000, Queries: 1500, Dim: 32, Clusters: 16, CorpusShards: 4, QueryShards: 2,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 5}

// TestJobOnDevServer runs a job of 4 corpus shards × 3 query blocks on a worker
// process against the real servers, checks that starting the epoch again
// while it runs attaches to it, checks its parts against the in-process run,
// then starts the same epoch again and checks that nothing is mined.
func TestJobOnDevServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	local := dataset(t, "job/in/", data)
	const queue = "e2e-job"
	startWorker(t, queue)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sp := textSpec("e2e-job", "s3://"+bucket+"/job/in/", "s3://"+bucket+"/job/out/")
	run, how, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil || how != jobclient.Started {
		t.Fatalf("start: %v, %s", err, how)
	}
	// Started again while it runs (its plan alone takes longer than this
	// call), the epoch's job is attached to, not started twice.
	running, how, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil || how != jobclient.Attached || running.GetRunID() != run.GetRunID() {
		t.Fatalf("start while running: %v, %q, run %s; want %q to run %s", err, how, running.GetRunID(), jobclient.Attached, run.GetRunID())
	}
	res, err := jobclient.Wait(ctx, c, run, nil)
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if res.TilesTotal != 12 || res.Blocks != 3 || res.TilesMined != 12 {
		t.Errorf("result %+v: want 12 tiles mined in 3 blocks", res)
	}
	checkOutput(t, outStore(t, "job/out/"), reference(t, local, sp))

	again, how, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil || how != jobclient.Finished {
		t.Fatalf("second start: %v, %q; want %q", err, how, jobclient.Finished)
	}
	if again.GetRunID() != run.GetRunID() {
		t.Errorf("second start made run %s, want the finished run %s", again.GetRunID(), run.GetRunID())
	}
	var res2 workflows.Result
	if err := again.Get(ctx, &res2); err != nil || res2.TilesMined != res.TilesMined {
		t.Errorf("second start result %+v, %v; want the first result", res2, err)
	}
}

// TestWorkerKilledMidJob kills the only worker with SIGKILL while tiles are
// being mined, starts a new one, and checks that the job still ends with parts
// byte-identical to the in-process run, without redoing finished tiles.
func TestWorkerKilledMidJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	local := dataset(t, "kill/in/", data)
	_, s3env := storageProxy(t, slowStorage)
	const queue = "e2e-kill"
	slow := workerConfig{queue: queue, env: s3env}
	w := startWorkerWith(t, slow)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sp := textSpec("e2e-kill", "s3://"+bucket+"/kill/in/", "s3://"+bucket+"/kill/out/")
	sp.MaxParallel = 1
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	p := waitProgress(ctx, t, c, run.GetID(), "3 tiles", func(p workflows.Progress) bool { return p.TilesDone >= 3 })
	w.kill()
	if p.TilesDone >= p.TilesTotal {
		t.Fatalf("the job had mined every tile (%d of %d) before the kill", p.TilesDone, p.TilesTotal)
	}
	t.Logf("worker killed with SIGKILL after %d of %d tiles; starting another", p.TilesDone, p.TilesTotal)
	startWorkerWith(t, slow)
	res, err := jobclient.Wait(ctx, c, run, nil)
	if err != nil {
		t.Fatalf("job failed after the kill: %v", err)
	}
	if res.TilesMined > res.TilesTotal {
		t.Errorf("mined %d tiles of %d: finished tiles were mined again", res.TilesMined, res.TilesTotal)
	}
	checkOutput(t, outStore(t, "kill/out/"), reference(t, local, sp))
}

func slogDiscard() interface {
	Debug(string, ...any)
	Info(string, ...any)
	Warn(string, ...any)
	Error(string, ...any)
} {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
