package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/workflows"
)

// BenchmarkWorkerScaling mines one epoch on the dev server and versitygw with
// one worker process pinned to one core (taskset -c 0, GOMAXPROCS=1), then
// with two pinned to a core each (taskset -c 0 and -c 1), and reports both
// wall times and their ratio ("speedup"). It fails if the parts of the two
// runs differ by a byte. The time runs from the workflow's start to its
// result: the servers, the data and the workers (which poll both task queues
// before the clock starts) are ready before it.
//
// The default size (40,000 queries × 100,000 corpus rows, d = 256, 8 query
// blocks × 4 corpus shards = 32 tiles) takes 20–40 s on one core; smaller:
//
//	HARDNEG_SCALING_QUERIES=8000 HARDNEG_SCALING_CORPUS=20000 \
//	  go test -run '^$' -bench WorkerScaling -benchtime 1x ./e2e/
//
// HARDNEG_SCALING_DIM, HARDNEG_SCALING_BLOCKS and HARDNEG_SCALING_SHARDS set
// the dimension, the query blocks and the corpus shards.
func BenchmarkWorkerScaling(b *testing.B) {
	if runtime.NumCPU() < 2 {
		b.Skipf("needs 2 CPUs, the machine has %d", runtime.NumCPU())
	}
	for _, cpu := range []string{"0", "1"} {
		if err := exec.Command("taskset", "-c", cpu, "true").Run(); err != nil {
			b.Skipf("cannot pin a process to CPU %s with taskset (util-linux): %v", cpu, err)
		}
	}
	cfg := synth.Config{
		Queries: envInt("HARDNEG_SCALING_QUERIES", 40000), Corpus: envInt("HARDNEG_SCALING_CORPUS", 100000),
		Dim: envInt("HARDNEG_SCALING_DIM", 256), Clusters: 64,
		CorpusShards: envInt("HARDNEG_SCALING_SHARDS", 4), QueryShards: 2,
		NearDupShare: 0.2, MultiPosShare: 0.2, Seed: 13,
	}
	blocks := envInt("HARDNEG_SCALING_BLOCKS", 8)
	prefix := fmt.Sprintf("scaling-%d-%d-%d/", cfg.Queries, cfg.Corpus, cfg.Dim)
	b.StopTimer()
	dataset(b, prefix+"in/", cfg)
	c := dial(b)
	var one, two []float64         // seconds per run
	var oneCPU, twoCPU []float64   // the workers' CPU seconds per run, all together
	var oneMine, twoMine []float64 // seconds of the mine phase per run
	var oneSrv, twoSrv []float64   // the servers' CPU seconds per run
	var oneTmp, twoTmp []float64   // the dev server's alone
	for i := range b.N {
		// The same run name and epoch (the seed of random sampling) for both;
		// force starts the epoch again, into another output.
		sp := spec("scaling", "s3://"+bucket+"/"+prefix+"in/", "")
		sp.QueryBlockRows = (cfg.Queries + blocks - 1) / blocks
		// Two tiles in flight on each of two workers (-tiles 2).
		sp.MaxParallel = 4
		var outs [2]string
		for n := 1; n <= 2; n++ {
			outs[n-1] = fmt.Sprintf("%sout-%d-%dw/", prefix, i, n)
			sp.Output = "s3://" + bucket + "/" + outs[n-1]
			r := mineWithPinnedWorkers(b, c, sp, fmt.Sprintf("scaling-%d-%dw", i, n), n)
			if n == 1 {
				one, oneCPU, oneMine, oneSrv = append(one, r.took.Seconds()), append(oneCPU, r.cpu), append(oneMine, r.mine), append(oneSrv, r.servers)
				oneTmp = append(oneTmp, r.temporal)
			} else {
				two, twoCPU, twoMine, twoSrv = append(two, r.took.Seconds()), append(twoCPU, r.cpu), append(twoMine, r.mine), append(twoSrv, r.servers)
				twoTmp = append(twoTmp, r.temporal)
			}
		}
		first := parts(b, outStore(b, outs[0]))
		if _, err := outStore(b, outs[0]).Stat(context.Background(), job.SuccessKey); err != nil {
			b.Errorf("one-worker run: no _SUCCESS: %v", err)
		}
		checkOutput(b, outStore(b, outs[1]), first)
		b.Logf("run %d: %d parts byte-identical; 1 worker %.2f s, 2 workers %.2f s: speed-up %.2f×", i+1, len(first), one[i], two[i], one[i]/two[i])
	}
	b.ReportMetric(median(one), "1worker-s")
	b.ReportMetric(median(two), "2workers-s")
	b.ReportMetric(median(one)/median(two), "speedup")
	// The mine phase alone: the speed-up without the work that does not
	// split (plan, the last merge, the last part, finalize).
	b.ReportMetric(median(oneMine)/median(twoMine), "mine-speedup")
	// CPU seconds do not depend on what else runs on the machine: equal
	// figures mean the two workers split the work without doing more of it.
	b.ReportMetric(median(oneCPU), "1worker-cpu-s")
	b.ReportMetric(median(twoCPU), "2workers-cpu-s")
	// The dev server and versitygw run on the same cores: idle ones beside
	// one worker, the workers' own beside two. On a fleet they are elsewhere.
	b.ReportMetric(median(oneSrv), "1worker-servers-cpu-s")
	b.ReportMetric(median(twoSrv), "2workers-servers-cpu-s")
	b.ReportMetric(median(oneTmp), "1worker-temporal-cpu-s")
	b.ReportMetric(median(twoTmp), "2workers-temporal-cpu-s")
	// The search's operations over the one-worker time: a whole job's
	// throughput on one core, what docs/performance.md scales to 100 workers.
	flop := 2 * float64(cfg.Queries) * float64(cfg.Corpus) * float64(cfg.Dim)
	b.ReportMetric(flop/median(one)/1e9, "1core-GFLOP/s")
}

// scalingRun is what one run of mineWithPinnedWorkers measured.
type scalingRun struct {
	took     time.Duration // from the workflow's start to its result
	cpu      float64       // CPU seconds (user and system) of the workers in all, start-up included
	mine     float64       // seconds of the mine phase
	servers  float64       // CPU seconds of the dev server and versitygw while the job ran
	temporal float64       // of the dev server alone
}

// mineWithPinnedWorkers starts n worker processes on queue, worker i pinned to
// CPU i with GOMAXPROCS=1, waits until all of them poll, mines sp and stops
// them.
func mineWithPinnedWorkers(b *testing.B, c client.Client, sp workflows.Spec, queue string, n int) scalingRun {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var ws []*worker
	for cpu := range n {
		ws = append(ws, startWorkerWith(b, workerConfig{queue: queue, cpus: strconv.Itoa(cpu), env: []string{"GOMAXPROCS=1"}}))
	}
	defer func() {
		for _, w := range ws {
			w.stop()
		}
	}()
	waitPollers(ctx, b, c, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW, n)
	waitPollers(ctx, b, c, workflows.TileTaskQueue(queue), enumspb.TASK_QUEUE_TYPE_ACTIVITY, n)
	b.StartTimer()
	start, before := time.Now(), serverCPU(b)
	run, _, err := jobclient.Start(ctx, c, sp, queue, true)
	if err != nil {
		b.Fatal(err)
	}
	res, err := jobclient.Wait(ctx, c, run, nil)
	took, after := time.Since(start), serverCPU(b)
	temporal, s3 := after[0]-before[0], after[1]-before[1]
	b.StopTimer()
	if err != nil {
		b.Fatalf("job with %d worker(s): %v", n, err)
	}
	if res.TilesMined != res.TilesTotal {
		b.Fatalf("job with %d worker(s) mined %d of %d tiles", n, res.TilesMined, res.TilesTotal)
	}
	// Every worker must have mined, or the run measured fewer cores than it says.
	var mined, cpus []string
	cpu := 0.0
	for _, w := range ws {
		c := strings.Count(w.log.String(), "tile mined")
		if c == 0 {
			b.Errorf("with %d workers, the worker on CPU %s mined no tile", n, w.cfg.cpus)
		}
		mined = append(mined, strconv.Itoa(c))
		w.stop()
		used := (w.cmd.ProcessState.UserTime() + w.cmd.ProcessState.SystemTime()).Seconds()
		cpu += used
		cpus = append(cpus, fmt.Sprintf("%.1f", used))
	}
	// One line per run: a benchmark's log is cut after ten lines without -v.
	var phases []string
	mine := 0.0
	for _, ph := range res.Phases {
		phases = append(phases, fmt.Sprintf("%s %.2f", ph.Name, ph.End.Sub(ph.Start).Seconds()))
		if ph.Name == workflows.PhaseMine {
			mine = ph.End.Sub(ph.Start).Seconds()
		}
	}
	b.Logf("%d worker(s), one core each: %.2f s from start to result (tiles per worker %s, CPU s %s, servers' CPU s: Temporal %.1f, versitygw %.1f; phases, s: %s)",
		n, took.Seconds(), strings.Join(mined, "+"), strings.Join(cpus, "+"), temporal, s3, strings.Join(phases, ", "))
	return scalingRun{took: took, cpu: cpu, mine: mine, servers: temporal + s3, temporal: temporal}
}

// serverCPU returns the CPU seconds (user and system) that the dev server
// and versitygw have each used so far, in that order, from /proc/PID/stat
// in clock ticks of 1/100 s (Linux's USER_HZ on x86 and arm64).
func serverCPU(b *testing.B) [2]float64 {
	b.Helper()
	var secs [2]float64
	for i, pid := range []int{env.temporal.Pid(), env.s3.Pid()} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			b.Fatalf("servers' CPU time: %v", err)
		}
		// The fields after the command name, which is in parentheses and
		// may hold spaces: the 3rd field of the line first, so utime and
		// stime (the 14th and 15th) are the 12th and 13th here.
		f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		for _, v := range f[11:13] {
			t, err := strconv.Atoi(v)
			if err != nil {
				b.Fatalf("servers' CPU time: /proc/%d/stat: %v", pid, err)
			}
			secs[i] += float64(t) / 100
		}
	}
	return secs
}

// waitPollers waits until n distinct workers poll a task queue, so that no
// worker's start-up falls inside the measured time.
func waitPollers(ctx context.Context, b *testing.B, c client.Client, queue string, typ enumspb.TaskQueueType, n int) {
	b.Helper()
	for {
		resp, err := c.DescribeTaskQueue(ctx, queue, typ)
		if err == nil && len(resp.GetPollers()) >= n {
			return
		}
		if ctx.Err() != nil {
			b.Fatalf("waiting for %d workers to poll %s: %v (last: %v)", n, queue, ctx.Err(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// median returns the middle value of v (v is not changed).
func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
