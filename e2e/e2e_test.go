package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hardneg/hardneg/activities"
	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
	"github.com/hardneg/hardneg/storage/s3"
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

// worker is a worker process.
type worker struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func startWorker(t testing.TB, taskQueue string) *worker {
	t.Helper()
	w := &worker{log: &bytes.Buffer{}}
	w.cmd = exec.Command(env.workerBin, "-task-queue", taskQueue)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *worker) stop() {
	if w.cmd.ProcessState == nil {
		w.cmd.Process.Signal(syscall.SIGTERM)
		w.cmd.Wait()
	}
}

func (w *worker) kill() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}

// dataset writes one synthetic epoch to S3 under prefix and to a local folder,
// and returns the local folder.
func dataset(t testing.TB, prefix string, cfg synth.Config) string {
	t.Helper()
	ctx := context.Background()
	store := bucketStore(t)
	local := t.TempDir()
	lstore, _ := file.New(local)
	d := synth.Generate(cfg, 0)
	corpus, err := synth.Shards(d.Corpus, cfg.CorpusShards)
	if err != nil {
		t.Fatal(err)
	}
	queries, err := synth.Shards(d.Queries, cfg.QueryShards)
	if err != nil {
		t.Fatal(err)
	}
	for name, shards := range map[string][][]byte{"corpus": corpus, "queries": queries} {
		for i, b := range shards {
			key := fmt.Sprintf("%s/part-%05d.parquet", name, i)
			for _, s := range []storage.Store{storage.WithPrefix(store, prefix), lstore} {
				if err := s.Put(ctx, key, bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return local
}

func bucketStore(t testing.TB) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), bucket, s3.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func dial(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: env.temporal.Addr,
		Logger: slogDiscard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
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

// reference runs the same job in-process (activities.RunLocal) on a local copy
// of the inputs and returns its parts by name.
func reference(t *testing.T, local string, sp workflows.Spec) map[string][]byte {
	t.Helper()
	out := t.TempDir()
	sp.Corpus, sp.Queries, sp.Output = local+"/corpus/", local+"/queries/", out+"/"
	a := &activities.Activities{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := a.RunLocal(context.Background(), sp); err != nil {
		t.Fatalf("in-process run: %v", err)
	}
	s, _ := file.New(out)
	return parts(t, s)
}

// parts reads every part file of an output.
func parts(t *testing.T, s storage.Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	list, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, o := range list {
		if strings.HasPrefix(o.Key, "part-") {
			b, err := storage.ReadAll(ctx, s, o.Key)
			if err != nil {
				t.Fatal(err)
			}
			out[o.Key] = b
		}
	}
	return out
}

// checkOutput asserts that an output is whole (_SUCCESS, no _work/) and that
// its parts are byte-identical to want.
func checkOutput(t *testing.T, out storage.Store, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := out.Stat(ctx, "_SUCCESS"); err != nil {
		t.Errorf("no _SUCCESS: %v", err)
	}
	if work, _ := out.List(ctx, "_work/"); len(work) != 0 {
		t.Errorf("_work/ left behind: %d objects", len(work))
	}
	got := parts(t, out)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range want {
			if !yield(k) {
				return
			}
		}
	})
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("output has %d parts, the in-process run %d", len(got), len(want))
	}
	for _, name := range names {
		if !bytes.Equal(got[name], want[name]) {
			t.Errorf("%s differs from the in-process run (%d vs %d bytes)", name, len(got[name]), len(want[name]))
		}
	}
}

var data = synth.Config{Corpus: 6000, Queries: 1500, Dim: 32, Clusters: 16, CorpusShards: 4, QueryShards: 2,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 5}

// TestJobOnDevServer runs a job of 4 corpus shards × 3 query blocks on a worker
// process against the real servers, checks its parts against the in-process
// run, then starts the same epoch again and checks that nothing is mined.
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
	sp := spec("e2e-job", "s3://"+bucket+"/job/in/", "s3://"+bucket+"/job/out/")
	run, how, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil || how != jobclient.Started {
		t.Fatalf("start: %v, %s", err, how)
	}
	res, err := jobclient.Wait(ctx, c, run, nil)
	if err != nil {
		t.Fatalf("job failed: %v", err)
	}
	if res.TilesTotal != 12 || res.Blocks != 3 || res.TilesMined != 12 {
		t.Errorf("result %+v: want 12 tiles mined in 3 blocks", res)
	}
	checkOutput(t, storage.WithPrefix(bucketStore(t), "job/out/"), reference(t, local, sp))

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
	const queue = "e2e-kill"
	w := startWorker(t, queue)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sp := spec("e2e-kill", "s3://"+bucket+"/kill/in/", "s3://"+bucket+"/kill/out/")
	sp.MaxParallel = 1
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := jobclient.Progress(ctx, c, run.GetID())
		if err == nil && p.TilesDone >= 3 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("job made no progress")
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.kill()
	t.Log("worker killed with SIGKILL after 3 tiles; starting another")
	startWorker(t, queue)
	res, err := jobclient.Wait(ctx, c, run, nil)
	if err != nil {
		t.Fatalf("job failed after the kill: %v", err)
	}
	if res.TilesMined > res.TilesTotal {
		t.Errorf("mined %d tiles of %d: finished tiles were mined again", res.TilesMined, res.TilesTotal)
	}
	checkOutput(t, storage.WithPrefix(bucketStore(t), "kill/out/"), reference(t, local, sp))
}

func slogDiscard() interface {
	Debug(string, ...any)
	Info(string, ...any)
	Warn(string, ...any)
	Error(string, ...any)
} {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
