package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/miner"
)

// envInt reads a size from the environment, so the benchmark can be scaled to
// a machine (the issue asks for at least 30 s of mining).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkJobOverhead compares a whole job on the dev server and versitygw
// (start to _SUCCESS, one worker process) with the mining alone: one in-process
// exact search of every query against the whole corpus with the same kernel
// and candidate count. It reports both times and their ratio.
//
//	HARDNEG_OVERHEAD_QUERIES=50000 HARDNEG_OVERHEAD_CORPUS=400000 HARDNEG_OVERHEAD_DIM=256 \
//	  go test -run '^$' -bench JobOverhead -benchtime 1x ./e2e
func BenchmarkJobOverhead(b *testing.B) {
	cfg := synth.Config{
		Queries: envInt("HARDNEG_OVERHEAD_QUERIES", 4000), Corpus: envInt("HARDNEG_OVERHEAD_CORPUS", 50000),
		Dim: envInt("HARDNEG_OVERHEAD_DIM", 128), Clusters: 64, CorpusShards: 4, QueryShards: 2,
		NearDupShare: 0.2, MultiPosShare: 0.2, Seed: 9,
	}
	prefix := fmt.Sprintf("overhead-%d-%d-%d/", cfg.Queries, cfg.Corpus, cfg.Dim)
	for range b.N {
		b.StopTimer()
		dataset(b, prefix+"in/", cfg)
		mining := searchAlone(b, cfg, synth.Generate(cfg, 0))

		queue := "overhead"
		w := startWorker(b, queue)
		c := dial(b)
		sp := spec("overhead", "s3://"+bucket+"/"+prefix+"in/", "s3://"+bucket+"/"+prefix+"out/")
		blocks := envInt("HARDNEG_OVERHEAD_BLOCKS", 2)
		sp.QueryBlockRows = (cfg.Queries + blocks - 1) / blocks
		sp.SamplingStrategy = "top"
		ctx := context.Background()
		b.StartTimer()
		start := time.Now()
		run, _, err := jobclient.Start(ctx, c, sp, queue, true)
		if err != nil {
			b.Fatal(err)
		}
		res, err := jobclient.Wait(ctx, c, run, nil)
		if err != nil {
			b.Fatal(err)
		}
		job := time.Since(start)
		for _, ph := range res.Phases {
			b.Logf("phase %-9s %6.1fs", ph.Name, ph.End.Sub(ph.Start).Seconds())
		}
		b.StopTimer()
		for _, line := range strings.Split(w.log.String(), "\n") {
			if strings.Contains(line, "tile mined") {
				b.Log(line)
			}
		}
		w.stop()
		b.ReportMetric(mining.Seconds(), "mining-alone-s")
		b.ReportMetric(job.Seconds(), "job-s")
		b.ReportMetric(job.Seconds()/mining.Seconds(), "job/mining")
	}
}

// searchAlone times the exact top-k search of every query against the whole
// corpus in memory, as the job's tiles do it (same K, same kernel).
func searchAlone(b *testing.B, cfg synth.Config, d synth.Data) time.Duration {
	q := miner.NewMatrix(len(d.Queries), cfg.Dim)
	for i, r := range d.Queries {
		copy(q.Row(i), r.Embedding)
	}
	c := miner.NewMatrix(len(d.Corpus), cfg.Dim)
	for i, r := range d.Corpus {
		copy(c.Row(i), r.Embedding)
	}
	miner.Normalize(q)
	miner.Normalize(c)
	margin := 0.05
	plan, err := miner.Params{Mode: miner.ModePairs, NumNegatives: 4, RelativeMargin: &margin,
		Sampling: miner.SamplingTop}.Resolve(2)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := miner.SearchTile(miner.Tile{Queries: q, Corpus: c, K: plan.PoolSize()}); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}
