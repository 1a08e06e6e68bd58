// Command worker is a hardneg worker: it runs the MineHardNegatives workflow and
// its activities for any number of jobs. Start as many as you have machines;
// they share the work through the task queue.
//
// Searching a tile uses every core, so a worker searches one tile at a time. It
// takes pipeline.TilesInFlight tiles (-tiles) from its own task queue
// (<task-queue>-tiles), whose stages take turns there, and runs the light
// activities (plan, merge, rebalance, finalize) and the workflows beside them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/worker"

	"github.com/hardneg/hardneg/activities"
	"github.com/hardneg/hardneg/internal/admission"
	"github.com/hardneg/hardneg/internal/connect"
	"github.com/hardneg/hardneg/internal/metrics"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/storage"
	s3store "github.com/hardneg/hardneg/storage/s3"
	"github.com/hardneg/hardneg/workflows"
)

func main() {
	if err := run(); err != nil {
		slog.Error("worker stopped", "error", err)
		os.Exit(1)
	}
}

func run() error {
	fs := flag.NewFlagSet("worker", flag.ExitOnError)
	conn := connect.RegisterFlags(fs)
	taskQueue := fs.String("task-queue", envOr("HARDNEG_TASK_QUEUE", "hardneg"), "task queue (HARDNEG_TASK_QUEUE)")
	tiles := fs.Int("tiles", envInt("HARDNEG_TILES", pipeline.TilesInFlight), "tiles in flight; their decoding and searches take turns (a search uses every core), so the next tile is handed out and fetches its data while another searches, and one tile's partial is written while the next decodes (HARDNEG_TILES)")
	metricsAddr := fs.String("metrics", envOr("HARDNEG_METRICS_ADDR", ""), "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (HARDNEG_METRICS_ADDR)")
	pprofAddr := fs.String("pprof", envOr("HARDNEG_PPROF_ADDR", ""), "serve Go's profiles (net/http/pprof) on this address, e.g. 127.0.0.1:6060 (HARDNEG_PPROF_ADDR); off by default: profiles show what the worker is doing")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	memory := fs.String("memory", os.Getenv("HARDNEG_MEMORY"), "memory this worker's jobs may use, in bytes or with a KiB/MiB/GiB suffix (e.g. 8GiB); a job whose tile, merge or rebalance would need more is refused at plan time, naming the spec field to change; default: the cgroup's memory limit, else the physical memory, less a tenth (HARDNEG_MEMORY)")
	cache := fs.String("cache", os.Getenv("HARDNEG_CACHE"), "memory for decoded query blocks and corpus shards kept between tiles, so that the next tiles of a block or shard do not read and decode them again (a quarter for blocks), in bytes or with a suffix; taken out of -memory's budget for jobs; default 0: only the last block and shard read (HARDNEG_CACHE)")
	allow := fs.String("allow", os.Getenv("HARDNEG_ALLOWED_PREFIXES"), "comma-separated URI prefixes that jobs' corpus, queries and output must lie under, e.g. s3://team-a-embeddings/,s3://team-a-negatives/; file:// and local paths only when listed; empty allows every location the worker's credentials reach (HARDNEG_ALLOWED_PREFIXES)")
	fs.Parse(os.Args[1:])

	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	logger := slog.New(handler)
	slog.SetDefault(logger)

	allowList, err := storage.ParseAllowList(*allow)
	if err != nil {
		return fmt.Errorf("-allow: %w", err)
	}
	if allowList.Unrestricted() {
		logger.Warn("no allow-list (-allow, HARDNEG_ALLOWED_PREFIXES): jobs may read and write any location this worker's credentials or file system reach")
	}

	cacheBytes, budget, err := budgets(*memory, *cache, logger)
	if err != nil {
		return err
	}

	reg := metrics.NewRegistry()
	if *metricsAddr != "" {
		if err := serveMetrics(*metricsAddr, reg, logger); err != nil {
			return err
		}
	}
	if *pprofAddr != "" {
		serve("pprof", *pprofAddr, "/debug/pprof/", http.DefaultServeMux, logger) // net/http/pprof registers there
	}
	c, err := conn.Dial(logger, reg.Handler())
	if err != nil {
		return err
	}
	defer c.Close()

	acts := activities.New(logger, reg)
	acts.Allow = allowList
	acts.MemoryBudget = budget
	acts.QueryCacheBytes = cacheBytes / 4
	acts.ShardCacheBytes = cacheBytes - cacheBytes/4
	w := worker.New(c, *taskQueue, worker.Options{MaxHeartbeatThrottleInterval: heartbeatSendEvery})
	workflows.Register(w)
	w.RegisterActivity(acts)
	tileWorker := worker.New(c, workflows.TileTaskQueue(*taskQueue), worker.Options{
		MaxConcurrentActivityExecutionSize: *tiles,
		MaxHeartbeatThrottleInterval:       heartbeatSendEvery,
	})
	tileWorker.RegisterActivity(acts)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := tileWorker.Start(); err != nil {
		return fmt.Errorf("start tile worker: %w", err)
	}
	defer tileWorker.Stop()
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()
	logger.Info("worker started", "address", conn.Address, "namespace", conn.Namespace,
		"task_queue", *taskQueue, "tile_queue", workflows.TileTaskQueue(*taskQueue), "tiles", *tiles, "allowed_prefixes", allowList.String(), "memory", admission.GiB(budget))
	<-ctx.Done()
	logger.Info("worker stopping: finishing or handing back running activities")
	return nil
}

// heartbeatSendEvery is the longest a heartbeat waits before it is sent. A
// cancellation reaches an activity only with the answer to a heartbeat, and
// the SDK would send them every 24 s (80% of the 30 s heartbeat timeout): a
// cancelled job, or one whose mine phase failed, would wait that long for
// its rebalance, which follows the mine phase, to stop. At most one heartbeat
// call every 2 s per running activity.
const heartbeatSendEvery = 2 * time.Second

// memoryBudget is the -memory flag's bytes, or admission.DefaultBudget.
func memoryBudget(flag string, logger *slog.Logger) (int64, error) {
	if flag != "" {
		b, err := admission.ParseBytes(flag)
		if err != nil {
			return 0, fmt.Errorf("-memory: %w", err)
		}
		return b, nil
	}
	b, source := admission.DefaultBudget()
	if b == 0 {
		logger.Warn("memory budget unknown (no cgroup limit or /proc/meminfo): jobs are admitted whatever their size; set -memory")
	}
	logger.Info("memory budget", "bytes", b, "from", source)
	return b, nil
}

// budgets returns the bytes of -cache and the memory budget for jobs that
// -memory (or the machine) leaves beside it.
func budgets(memory, cache string, logger *slog.Logger) (cacheBytes, jobs int64, err error) {
	budget, err := memoryBudget(memory, logger)
	if err != nil {
		return 0, 0, err
	}
	return cacheBudget(cache, budget)
}

// cacheBudget parses the -cache flag and returns the cache's bytes and the
// jobs' budget that is left beside it (a budget of 0, unknown, stays 0).
func cacheBudget(flag string, budget int64) (cache, jobs int64, err error) {
	if flag == "" {
		return 0, budget, nil
	}
	if cache, err = admission.ParseBytes(flag); err != nil {
		return 0, 0, fmt.Errorf("-cache: %w", err)
	}
	if budget == 0 {
		return cache, 0, nil
	}
	if cache >= budget {
		return 0, 0, fmt.Errorf("-cache %s leaves nothing of the memory budget %s for jobs", admission.GiB(cache), admission.GiB(budget))
	}
	return cache, budget - cache, nil
}

func serveMetrics(addr string, reg *metrics.Registry, logger *slog.Logger) error {
	pr := prometheus.NewRegistry()
	s3Retries := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hardneg_s3_retries_total",
		Help: "S3 requests sent again: by the AWS SDK's retryer, and reads whose body broke off.",
	}, func() float64 { return float64(s3store.Retries()) })
	pr.MustRegister(reg, s3Retries, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	serve("metrics", addr, "/metrics", promhttp.HandlerFor(pr, promhttp.HandlerOpts{}), logger)
	return nil
}

// serve runs an HTTP endpoint for the worker's life; a failure is logged, not
// fatal: mining goes on without it.
func serve(what, addr, path string, h http.Handler, logger *slog.Logger) {
	srv := &http.Server{Addr: addr, Handler: h}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error(what+" endpoint failed", "address", addr, "error", err)
		}
	}()
	logger.Info(what+" endpoint", "url", "http://"+addr+path)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
