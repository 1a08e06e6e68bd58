// Command demo is hardneg's embedded default: on a fresh machine it starts a
// Temporal dev server (UI on 127.0.0.1:8233) and a versitygw S3 gateway on
// loopback, writes a synthetic data set for two epochs to S3, starts a worker,
// mines epochs 0 and 1, prints where the output is, its statistics and the UI
// link, and keeps the servers up for browsing until Ctrl-C, which stops
// everything it started.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/s3"
)

const (
	bucket    = "hardneg-demo"
	run       = "demo"
	taskQueue = "hardneg"
)

func main() {
	dir := flag.String("dir", ".demo", "folder for the servers' data, the worker binary and logs")
	corpus := flag.Int("corpus", 50000, "corpus rows")
	queries := flag.Int("queries", 5000, "query rows")
	dim := flag.Int("dim", 256, "embedding dimension")
	exit := flag.Bool("exit", false, "stop the servers once both epochs are mined instead of waiting for Ctrl-C")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, *dir, synth.Config{Corpus: *corpus, Queries: *queries, Dim: *dim, Clusters: 64,
		CorpusShards: 4, QueryShards: 2, NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 42}, *exit); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}

func demo(ctx context.Context, dir string, cfg synth.Config, exit bool) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(filepath.Join(dir, "servers.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Println("starting the Temporal dev server and the S3 gateway (logs in", logf.Name()+")")
	tmp, err := devenv.StartTemporal(ctx, devenv.TemporalOptions{Port: 7233, UIPort: 8233,
		DBFile: filepath.Join(dir, "temporal.db")}, logf)
	if err != nil {
		return fmt.Errorf("%w (is another Temporal server using port 7233?)", err)
	}
	defer tmp.Stop()
	gw, err := devenv.StartS3(ctx, filepath.Join(dir, "s3"), 7070, "hardneg", "hardneg-local-secret", logf)
	if err != nil {
		return fmt.Errorf("%w (is something else using port 7070?)", err)
	}
	defer gw.Stop()
	for _, kv := range append(gw.Env(), "TEMPORAL_ADDRESS="+tmp.Addr) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	store, err := s3.New(ctx, bucket, s3.Options{})
	if err != nil {
		return err
	}
	if err := store.CreateBucket(ctx); err != nil {
		return err
	}
	for epoch := range 2 {
		if err := upload(ctx, store, cfg, epoch); err != nil {
			return err
		}
	}
	worker, err := startWorker(ctx, dir)
	if err != nil {
		return err
	}
	defer func() {
		worker.Process.Signal(syscall.SIGTERM)
		worker.Wait()
	}()
	for epoch := range 2 {
		if err := mine(ctx, store, epoch); err != nil {
			return err
		}
	}
	fmt.Printf("\nTemporal UI: %s  (filter: HardnegRun = %q)\n", tmp.UIURL(), run)
	fmt.Printf("S3 gateway: %s, bucket %s; its files are under %s\n", gw.Endpoint, bucket, gw.Dir)
	if exit {
		return nil
	}
	fmt.Println("Servers stay up for browsing; Ctrl-C stops everything.")
	<-ctx.Done()
	return nil
}

func epochPrefix(epoch int) string { return fmt.Sprintf("%s/epoch-%d/", run, epoch) }

// upload writes one epoch's synthetic corpus and queries as Parquet shards.
func upload(ctx context.Context, store storage.Store, cfg synth.Config, epoch int) error {
	data := synth.Generate(cfg, epoch)
	corpus, err := synth.Shards(data.Corpus, cfg.CorpusShards)
	if err != nil {
		return err
	}
	queries, err := synth.Shards(data.Queries, cfg.QueryShards)
	if err != nil {
		return err
	}
	for name, shards := range map[string][][]byte{"corpus": corpus, "queries": queries} {
		for i, b := range shards {
			key := fmt.Sprintf("%s%s/part-%05d.parquet", epochPrefix(epoch), name, i)
			if err := store.Put(ctx, key, bytes.NewReader(b)); err != nil {
				return err
			}
		}
	}
	fmt.Printf("epoch %d: wrote %d corpus and %d query rows (d=%d) to s3://%s/%s\n",
		epoch, cfg.Corpus, cfg.Queries, cfg.Dim, bucket, epochPrefix(epoch))
	return nil
}

// startWorker builds the worker and runs it as its own process, as on a real
// machine; its log goes to worker.log.
func startWorker(ctx context.Context, dir string) (*exec.Cmd, error) {
	bin := filepath.Join(dir, "bin", "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build worker: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "worker.log"))
	if err != nil {
		return nil, err
	}
	// The worker may touch the demo's bucket only, as a shared worker should
	// be limited to its team's prefixes.
	cmd := exec.Command(bin, "-metrics", "127.0.0.1:9464", "-allow", "s3://"+bucket+"/")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	fmt.Println("worker started (log", logf.Name()+", metrics http://127.0.0.1:9464/metrics)")
	return cmd, nil
}

// mine runs the starter for one epoch and prints the statistics of the manifest.
func mine(ctx context.Context, store storage.Store, epoch int) error {
	out := epochPrefix(epoch) + "negatives/"
	spec := map[string]any{
		"run": run, "epoch": epoch,
		"corpus":        fmt.Sprintf("s3://%s/%scorpus/", bucket, epochPrefix(epoch)),
		"queries":       fmt.Sprintf("s3://%s/%squeries/", bucket, epochPrefix(epoch)),
		"output":        fmt.Sprintf("s3://%s/%s", bucket, out),
		"num_negatives": 5, "relative_margin": 0.05, "easy_negatives": 2,
		"max_negative_frequency": 100, "query_block_rows": 1000, "seed": 1, "text_column": "text",
	}
	specJSON, _ := json.Marshal(spec)
	fmt.Printf("\n== epoch %d ==\n", epoch)
	cmd := exec.CommandContext(ctx, "go", "run", "./cmd/starter", "--spec", "-", "--wait")
	cmd.Stdin = strings.NewReader(string(specJSON))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("epoch %d: %w", epoch, err)
	}
	manifest, err := storage.ReadAll(ctx, store, out+"_manifest.json")
	if err != nil {
		return err
	}
	var m struct {
		Statistics struct {
			Table string `json:"table"`
		} `json:"statistics"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return fmt.Errorf("read manifest of epoch %d: %w", epoch, err)
	}
	fmt.Println(m.Statistics.Table)
	fmt.Printf("output: s3://%s/%s (parts, _manifest.json, _SUCCESS)\n", bucket, out)
	return nil
}
