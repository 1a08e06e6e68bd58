// Command worker is a hardneg worker: it runs the MineHardNegatives workflow and
// its activities for any number of jobs. Start as many as you have machines;
// they share the work through the task queue.
//
// Searching a tile uses every core, so a worker searches one tile at a time. It
// takes two tiles (-tiles) from its own task queue (<task-queue>-tiles) so that
// one tile's shard reads and partial writes overlap the other's search, and runs
// the light activities (plan, merge, rebalance, finalize) and the workflows
// beside them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/worker"

	"github.com/hardneg/hardneg/activities"
	"github.com/hardneg/hardneg/internal/connect"
	"github.com/hardneg/hardneg/internal/metrics"
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
	tiles := fs.Int("tiles", 2, "tiles in flight; their searches take turns (each uses every core), so one tile's reads and writes overlap another's search")
	metricsAddr := fs.String("metrics", envOr("HARDNEG_METRICS_ADDR", ""), "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (HARDNEG_METRICS_ADDR)")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	fs.Parse(os.Args[1:])

	var handler slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if *logJSON {
		handler = slog.NewJSONHandler(os.Stderr, nil)
	}
	logger := slog.New(handler)
	slog.SetDefault(logger)

	reg := metrics.NewRegistry()
	if *metricsAddr != "" {
		if err := serveMetrics(*metricsAddr, reg, logger); err != nil {
			return err
		}
	}
	c, err := conn.Dial(logger, reg.Handler())
	if err != nil {
		return err
	}
	defer c.Close()

	acts := activities.New(logger, reg)
	w := worker.New(c, *taskQueue, worker.Options{})
	workflows.Register(w)
	w.RegisterActivity(acts)
	tileWorker := worker.New(c, workflows.TileTaskQueue(*taskQueue), worker.Options{
		MaxConcurrentActivityExecutionSize: *tiles,
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
		"task_queue", *taskQueue, "tile_queue", workflows.TileTaskQueue(*taskQueue), "tiles", *tiles)
	<-ctx.Done()
	logger.Info("worker stopping: finishing or handing back running activities")
	return nil
}

func serveMetrics(addr string, reg *metrics.Registry, logger *slog.Logger) error {
	pr := prometheus.NewRegistry()
	pr.MustRegister(reg, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &http.Server{Addr: addr, Handler: promhttp.HandlerFor(pr, promhttp.HandlerOpts{})}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics endpoint failed", "address", addr, "error", err)
		}
	}()
	logger.Info("metrics endpoint", "url", "http://"+addr+"/metrics")
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
