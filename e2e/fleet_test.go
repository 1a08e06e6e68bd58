package e2e

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/workflows"
)

// TestAllowListRefusesFast starts jobs whose corpus, queries or output lies
// outside the worker's allow-list (the test bucket): a bucket whose name
// starts with the allowed one's, a ".." climb out of the bucket, a local
// file. Each fails non-retryably in under a second, naming the field and the
// allowed prefix, and writes nothing.
func TestAllowListRefusesFast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-allow"
	startWorker(t, queue)
	c := dial(t)
	prefix := "allow/"
	putDataset(t, prefix+"in/", badData, 0)
	in := "s3://" + bucket + "/" + prefix + "in/"
	out := "s3://" + bucket + "/" + prefix + "out/"
	tests := []struct {
		name, field string
		edit        func(sp *workflows.Spec)
	}{
		{"output in a look-alike bucket", "output", func(sp *workflows.Spec) { sp.Output = "s3://" + bucket + "-other/out/" }},
		{"corpus climbs out", "corpus", func(sp *workflows.Spec) { sp.Corpus = "s3://" + bucket + "/../other/corpus/" }},
		{"queries on the worker's disk", "queries", func(sp *workflows.Spec) { sp.Queries = "file:///etc/" }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(fmt.Sprintf("e2e-allow-%d", i), in, out)
			tt.edit(&sp)
			runBad(t, c, queue, prefix, sp, nil, []string{tt.field + " ", "allow-list", testAllowList})
			took := failTime(t, c, sp.Run)
			t.Logf("failed in %v", took)
			if took > time.Second {
				t.Errorf("the job took %v to fail, want under 1s", took)
			}
		})
	}
}

// memoryData is a corpus where a range_max in the millions keeps every row of
// it for each query: 20,000 rows, 2,000 queries (the case of issue 14).
var memoryData = synth.Config{Corpus: 20000, Queries: 2000, Dim: 8, Clusters: 16, CorpusShards: 2, QueryShards: 1,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 29}

// TestMemoryAdmission runs a worker with -memory 1GiB and sends it a job
// whose range_max and then one whose query_block_rows is too big for it:
// each fails non-retryably in under a second, naming the field and the
// largest values that fit. The worker stays up (same process, never
// restarted) and then mines a valid job, whose parts equal the in-process
// run's.
func TestMemoryAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-memory"
	w := startWorkerWith(t, workerConfig{queue: queue, args: []string{"-memory", "1GiB"}})
	pid := w.cmd.Process.Pid
	c := dial(t)
	prefix := "memory/"
	local := dataset(t, prefix+"in/", memoryData)
	in := "s3://" + bucket + "/" + prefix + "in/"
	out := "s3://" + bucket + "/" + prefix + "out/"
	tests := []struct {
		name string
		edit func(sp *workflows.Spec)
		want []string
	}{
		{"range_max", func(sp *workflows.Spec) { sp.RangeMax = 3_000_000 },
			[]string{"range_max 3000000", "this worker has 1.00 GiB", "query_block_rows ≤ ", "range_max ≤ "}},
		{"query_block_rows", func(sp *workflows.Spec) { sp.QueryBlockRows, sp.RangeMax = 2000, 2000 },
			[]string{"query_block_rows 2000", "this worker has 1.00 GiB", "query_block_rows ≤ "}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(fmt.Sprintf("e2e-memory-%d", i), in, out)
			tt.edit(&sp)
			runBad(t, c, queue, prefix, sp, nil, tt.want)
			took := failTime(t, c, sp.Run)
			t.Logf("failed in %v", took)
			if took > time.Second {
				t.Errorf("the job took %v to fail, want under 1s", took)
			}
		})
	}
	if w.cmd.ProcessState != nil || w.cmd.Process.Pid != pid || w.starts != 1 {
		t.Fatalf("the worker did not stay up: pid %d (was %d), starts %d, state %v", w.cmd.Process.Pid, pid, w.starts, w.cmd.ProcessState)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("worker pid %d is gone: %v", pid, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sp := spec("e2e-memory-valid", in, out)
	run, how, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil || how != jobclient.Started {
		t.Fatalf("start: %v, %s", err, how)
	}
	if _, err := jobclient.Wait(ctx, c, run, nil); err != nil {
		t.Fatalf("the valid job failed: %v", err)
	}
	checkOutput(t, outStore(t, prefix+"out/"), reference(t, local, sp))
	if w.cmd.ProcessState != nil || w.starts != 1 {
		t.Errorf("the worker restarted or stopped while mining the valid job")
	}
}
