package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"

	"github.com/hardneg/hardneg/activities"
	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/faultproxy"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
	"github.com/hardneg/hardneg/storage/s3"
	"github.com/hardneg/hardneg/workflows"
)

// logBuffer collects a process's output; the process writes it while tests
// read it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// workerConfig says how to start a worker process.
type workerConfig struct {
	queue   string
	address string   // Temporal frontend; "" means the shared dev server
	env     []string // added to (and overriding) the test's environment
	metrics bool     // serve Prometheus metrics on a free port
	args    []string // more flags
	cpus    string   // taskset's CPU list (e.g. "0") to pin the worker to; "" runs it unpinned
}

// testAllowList is the allow-list (-allow) of the tests' workers: the test
// bucket.
const testAllowList = "s3://" + bucket + "/"

// worker is a worker process. Restarted, it keeps its configuration and adds
// to the same log.
type worker struct {
	cfg         workerConfig
	cmd         *exec.Cmd
	log         *logBuffer
	metricsAddr string
	starts      int
}

// startWorker starts a worker on taskQueue against the shared servers.
func startWorker(t testing.TB, taskQueue string) *worker {
	t.Helper()
	return startWorkerWith(t, workerConfig{queue: taskQueue})
}

// storageProxy starts a fault-injecting proxy in front of the test's S3
// gateway, closed when the test ends, and returns it with the environment that
// points a worker's S3 client at it.
func storageProxy(t testing.TB, cfg faultproxy.Config) (*faultproxy.Server, []string) {
	t.Helper()
	proxy, err := faultproxy.Start(env.s3.Endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	return proxy, []string{"AWS_ENDPOINT_URL_S3=" + proxy.URL}
}

// slowStorage delays every S3 request of a worker by 40 ms, so that a test
// that acts on a job mid-mine (a kill, a cancel) still finds it mining,
// however fast the machine: on a fast one a small job fits between two polls.
var slowStorage = faultproxy.Config{Latency: 1, Delay: 40 * time.Millisecond}

func startWorkerWith(t testing.TB, cfg workerConfig) *worker {
	t.Helper()
	w := &worker{cfg: cfg, log: &logBuffer{}}
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	// Cleanups run last first: this one runs before stop.
	t.Cleanup(func() {
		if t.Failed() {
			w.dump(t)
		}
	})
	return w
}

// dump makes a failed test say what its worker was doing: the worker prints
// every goroutine's stack on SIGQUIT, and its whole log goes to a file whose
// path the test logs, with the last lines inline.
func (w *worker) dump(t testing.TB) {
	if w.cmd.ProcessState == nil {
		w.cmd.Process.Signal(syscall.SIGQUIT)
		w.cmd.Wait()
	}
	log := w.log.String()
	f, err := os.CreateTemp("", "hardneg-e2e-worker-*.log")
	if err == nil {
		f.WriteString(log)
		f.Close()
		t.Logf("worker on %s (pid %d): log in %s", w.cfg.queue, w.cmd.Process.Pid, f.Name())
	}
	if len(log) > 3000 {
		log = log[len(log)-3000:]
	}
	t.Logf("worker log ends:\n%s", log)
}

func (w *worker) start() error {
	args := []string{"-task-queue", w.cfg.queue}
	if w.cfg.address != "" {
		args = append(args, "-address", w.cfg.address)
	}
	if w.cfg.metrics {
		if w.metricsAddr == "" {
			port, err := devenv.FreePort()
			if err != nil {
				return err
			}
			w.metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		}
		args = append(args, "-metrics", w.metricsAddr)
	}
	args = append(args, w.cfg.args...)
	if w.cfg.cpus != "" {
		// taskset execs the worker, so the process (and its pid) is the worker's.
		w.cmd = exec.Command("taskset", append([]string{"-c", w.cfg.cpus, env.workerBin}, args...)...)
	} else {
		w.cmd = exec.Command(env.workerBin, args...)
	}
	// exec keeps the last of repeated variables, so cfg.env overrides. Test
	// workers run with an allow-list, as a shared worker should.
	w.cmd.Env = append(append(os.Environ(), "HARDNEG_ALLOWED_PREFIXES="+testAllowList), w.cfg.env...)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	w.starts++
	if err := w.cmd.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	return nil
}

func (w *worker) stop() {
	if w.cmd.ProcessState == nil {
		w.cmd.Process.Signal(syscall.SIGTERM)
		w.cmd.Wait()
	}
}

// kill ends the worker with SIGKILL, as a crash would.
func (w *worker) kill() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}

// restart starts the (dead) worker again.
func (w *worker) restart(t testing.TB) {
	t.Helper()
	if err := w.start(); err != nil {
		t.Fatal(err)
	}
}

// metrics scrapes the worker's Prometheus endpoint and returns every sample
// as "name{labels}" → value. A worker that is not up yet is retried briefly.
func (w *worker) metrics(t testing.TB) map[string]float64 {
	t.Helper()
	var err error
	for range 50 {
		var resp *http.Response
		if resp, err = http.Get("http://" + w.metricsAddr + "/metrics"); err == nil {
			defer resp.Body.Close()
			return parseMetrics(resp.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("scrape worker metrics: %v", err)
	return nil
}

// parseMetrics reads Prometheus' text format into sample → value. The test
// needs only the samples, so a few lines here save making
// prometheus/common/expfmt a direct dependency of the shared go.mod.
func parseMetrics(r io.Reader) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] += v
		}
	}
	return out
}

// sumMetric adds up the samples of one metric whose labels contain every
// fragment given (e.g. `result="mined"`).
func sumMetric(m map[string]float64, name string, fragments ...string) float64 {
	total := 0.0
	for k, v := range m {
		base, labels, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(labels, f)
		}
		if ok {
			total += v
		}
	}
	return total
}

// putDataset writes one synthetic epoch to S3 under prefix and to a local
// folder, and returns the local folder.
func putDataset(t testing.TB, prefix string, cfg synth.Config, epoch int) string {
	t.Helper()
	d := synth.Generate(cfg, epoch)
	corpus, err := synth.Shards(d.Corpus, cfg.CorpusShards)
	if err != nil {
		t.Fatal(err)
	}
	queries, err := synth.Shards(d.Queries, cfg.QueryShards)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name, shards := range map[string][][]byte{"corpus": corpus, "queries": queries} {
		for i, b := range shards {
			files[fmt.Sprintf("%s/part-%05d.parquet", name, i)] = b
		}
	}
	return putFiles(t, prefix, files)
}

// dataset writes epoch 0 of cfg; see putDataset.
func dataset(t testing.TB, prefix string, cfg synth.Config) string {
	t.Helper()
	return putDataset(t, prefix, cfg, 0)
}

// putFiles writes files (key → bytes) under prefix in the bucket and into a
// new local folder, which it returns.
func putFiles(t testing.TB, prefix string, files map[string][]byte) string {
	t.Helper()
	ctx := context.Background()
	store := storage.WithPrefix(bucketStore(t), prefix)
	local := t.TempDir()
	lstore, _ := file.New(local)
	for key, b := range files {
		for _, s := range []storage.Store{store, lstore} {
			if err := s.Put(ctx, key, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return local
}

func bucketStore(t testing.TB) *s3.Store {
	t.Helper()
	// The test's own view of the bucket goes straight to versitygw, never
	// through a fault proxy a test may have put in front of the workers.
	s, err := s3.New(context.Background(), bucket, s3.Options{Endpoint: env.s3.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// outStore is the store under prefix of the test bucket.
func outStore(t testing.TB, prefix string) storage.Store {
	t.Helper()
	return storage.WithPrefix(bucketStore(t), prefix)
}

func dial(t testing.TB) client.Client {
	t.Helper()
	return dialAddr(t, env.temporal.Addr)
}

func dialAddr(t testing.TB, addr string) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Logger: slogDiscard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// reference runs the same job in-process (activities.RunLocal) on a local copy
// of the inputs and returns its parts by name.
func reference(t testing.TB, local string, sp workflows.Spec) map[string][]byte {
	t.Helper()
	out := t.TempDir()
	sp.Corpus, sp.Output = local+"/corpus/", out+"/"
	if sp.Queries != "" {
		sp.Queries = local + "/queries/"
	}
	a := &activities.Activities{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := a.RunLocal(context.Background(), sp); err != nil {
		t.Fatalf("in-process run: %v", err)
	}
	s, _ := file.New(out)
	return parts(t, s)
}

// parts reads every part file of an output.
func parts(t testing.TB, s storage.Store) map[string][]byte {
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
func checkOutput(t testing.TB, out storage.Store, want map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := out.Stat(ctx, job.SuccessKey); err != nil {
		t.Errorf("no _SUCCESS: %v", err)
	}
	if work, _ := out.List(ctx, "_work/"); len(work) != 0 {
		t.Errorf("_work/ left behind: %d objects", len(work))
	}
	got := parts(t, out)
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("output has %d parts, the in-process run %d", len(got), len(want))
	}
	for _, name := range slices.Sorted(mapKeys(want)) {
		if !bytes.Equal(got[name], want[name]) {
			t.Errorf("%s differs from the in-process run (%d vs %d bytes)", name, len(got[name]), len(want[name]))
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// snapshot fingerprints every object under a prefix: key → size and SHA-256.
func snapshot(t testing.TB, s storage.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	list, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range list {
		b, err := storage.ReadAll(ctx, s, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		out[o.Key] = fmt.Sprintf("%d %x", o.Size, sha256.Sum256(b))
	}
	return out
}

// jobHistories returns the history of a job's workflow and of every block
// workflow it started (their latest runs), by workflow ID.
func jobHistories(t testing.TB, c client.Client, workflowID string) map[string][]*historypb.HistoryEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := map[string][]*historypb.HistoryEvent{}
	queue := []string{workflowID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		if _, ok := out[id]; ok {
			continue
		}
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var events []*historypb.HistoryEvent
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatalf("history of %s: %v", id, err)
			}
			events = append(events, ev)
			if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
				queue = append(queue, a.GetWorkflowId())
			}
		}
		out[id] = events
	}
	return out
}

// attempts sums up the activity attempts of a job's histories: how many
// activities ran, how many of them needed more than one attempt (and their
// IDs), and the attempts beyond the first over all of them. Temporal records
// one ActivityTaskStarted per activity, carrying the attempt that ended it.
type attempts struct {
	activities, retried, extra int
	names                      []string // IDs of the retried activities
}

func countAttempts(h map[string][]*historypb.HistoryEvent) attempts {
	var a attempts
	for _, events := range h {
		ids := map[int64]string{} // scheduled event → activity ID
		for _, ev := range events {
			if s := ev.GetActivityTaskScheduledEventAttributes(); s != nil {
				ids[ev.GetEventId()] = s.GetActivityId()
			}
			if s := ev.GetActivityTaskStartedEventAttributes(); s != nil {
				a.activities++
				if s.GetAttempt() > 1 {
					a.retried++
					a.extra += int(s.GetAttempt() - 1)
					a.names = append(a.names, fmt.Sprintf("%s×%d", ids[s.GetScheduledEventId()], s.GetAttempt()))
				}
			}
		}
	}
	slices.Sort(a.names)
	return a
}

// waitProgress polls a job's progress until cond holds.
func waitProgress(ctx context.Context, t testing.TB, c client.Client, workflowID string, what string, cond func(workflows.Progress) bool) workflows.Progress {
	t.Helper()
	for {
		p, err := jobclient.Progress(ctx, c, workflowID)
		if err == nil && cond(p) {
			return p
		}
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v (last progress %+v, %v)", what, ctx.Err(), p, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
