package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/faultproxy"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
)

// faultShare is the share of the workers' S3 requests the proxy breaks.
const faultShare = 0.10

// faults breaks about faultShare of the requests when about two thirds of
// them are GETs (as in this job): 7.5% of all requests meet an error, a reset
// or latency, and 4% of the GETs have their body cut short.
var faults = faultproxy.Config{
	Seed:     11,
	Error500: 0.015, SlowDown: 0.015, ResetBefore: 0.015, ResetAfter: 0.015, Latency: 0.015,
	Truncate: 0.04,
}

// TestS3Faults runs the job on two workers whose every S3 request goes through
// a proxy that breaks 10% of them (500, 503 SlowDown, resets before and after
// the gateway did the work, bodies cut short, latency). The job must succeed
// with parts byte-identical to the fault-free in-process run, and the retries
// must show: the proxy counts every failed request sent again, and where the
// S3 layer gave up, the workers' Temporal metrics and the job's history show
// the activity retried. The workers' own metric counts the S3 layer's retries.
func TestS3Faults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	local := dataset(t, "faults/in/", data)
	proxy, s3env := storageProxy(t, faults)

	const queue = "e2e-faults"
	var workers []*worker
	for range 2 {
		workers = append(workers, startWorkerWith(t, workerConfig{queue: queue, metrics: true, env: s3env}))
	}
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sp := textSpec("e2e-faults", "s3://"+bucket+"/faults/in/", "s3://"+bucket+"/faults/out/")
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := jobclient.Wait(ctx, c, run, nil)
	counts := proxy.Counts()
	t.Logf("S3 through the fault proxy: %v", counts)
	if err != nil {
		t.Fatalf("job failed under %.0f%% S3 faults: %v", 100*faultShare, err)
	}
	checkOutput(t, outStore(t, "faults/out/"), reference(t, local, sp))
	if res.TilesMined+res.TilesSkipped != res.TilesTotal {
		t.Errorf("result %+v: mined + skipped tiles != total", res)
	}

	share := float64(counts.Faulted()) / float64(counts.Requests)
	if counts.Requests < 200 || share < faultShare*0.6 || share > faultShare*1.4 {
		t.Errorf("%d of %d requests faulted (%.1f%%), want about %.0f%% of at least 200",
			counts.Faulted(), counts.Requests, 100*share, 100*faultShare)
	}
	for f := faultproxy.Error500; f <= faultproxy.Latency; f++ {
		if counts.Faults[f] == 0 {
			t.Errorf("no request met fault %s: the test did not exercise it", f)
		}
	}
	// The job succeeded, so every failed request was sent again: by the AWS
	// SDK's retryer, by the S3 store's re-read of a cut body, or by Temporal
	// retrying the activity.
	if counts.Retried != counts.Failed() {
		t.Errorf("%d of %d failed requests were sent again, want all", counts.Retried, counts.Failed())
	}

	// Where the S3 layer gave up, Temporal retried the activity: the workers
	// count the failed attempts, and the history records the attempt that
	// succeeded.
	failed, s3Retries := 0.0, 0.0
	for _, w := range workers {
		m := w.metrics(t)
		failed += sumMetric(m, "temporal_activity_execution_failed")
		s3Retries += sumMetric(m, "hardneg_s3_retries_total")
	}
	a := countAttempts(jobHistories(t, c, run.GetID()))
	t.Logf("retries in the workers' metrics: %.0f S3 requests sent again, %.0f failed activity attempts; %d of %d activities needed more than one attempt (%d extra attempts)",
		s3Retries, failed, a.retried, a.activities, a.extra)
	if float64(a.extra) > failed {
		t.Errorf("the history shows %d extra attempts, the workers' metrics only %.0f failed ones", a.extra, failed)
	}
	// The S3 layer's retries show in the metric. They are not all of the
	// requests sent again: Go's HTTP client itself resends an idempotent
	// request whose reused connection was reset before an answer, unseen by
	// the SDK. But the metric never counts more than the store saw resent.
	if s3Retries == 0 || s3Retries > float64(counts.Retried) {
		t.Errorf("%.0f S3 retries in the metrics; the store saw %d failed requests sent again", s3Retries, counts.Retried)
	}
}

// heavyFaults breaks about a third of the requests, in every class, so that
// all the SDK's attempts (s3.DefaultMaxAttempts) fail now and then (about
// 0.5% of requests) and the error reaches the activity, which must be
// retried, not failed.
var heavyFaults = faultproxy.Config{
	Seed:     23,
	Error500: 0.07, SlowDown: 0.07, ResetBefore: 0.06, ResetAfter: 0.06, Latency: 0.02,
	Truncate: 0.10, Delay: 20 * time.Millisecond,
}

// smallBlocksData makes many tiles and many requests: small query blocks
// over several shards of queries and corpus.
var smallBlocksData = synth.Config{Corpus: 3000, Queries: 1000, Dim: 16, Clusters: 8, CorpusShards: 4, QueryShards: 3,
	NearDupShare: 0.2, MultiPosShare: 0.2, Seed: 31}

// TestS3FaultsSmallBlocks runs a job of query_block_rows 100 through heavy
// faults: the S3 SDK gives up on some requests, and each time the failure
// must be classified as worth retrying (a throttle the SDK gave up on is not
// corrupt input). The job completes with parts byte-identical to the
// fault-free run, and the history shows activities retried.
func TestS3FaultsSmallBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	local := dataset(t, "faults-small/in/", smallBlocksData)
	proxy, s3env := storageProxy(t, heavyFaults)
	const queue = "e2e-faults-small"
	for range 2 {
		startWorkerWith(t, workerConfig{queue: queue, env: s3env})
	}
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sp := textSpec("e2e-faults-small", "s3://"+bucket+"/faults-small/in/", "s3://"+bucket+"/faults-small/out/")
	sp.QueryBlockRows, sp.MaxParallel = 100, 4
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jobclient.Wait(ctx, c, run, nil)
	counts := proxy.Counts()
	a := countAttempts(jobHistories(t, c, run.GetID()))
	t.Logf("S3 through the fault proxy: %v; %d of %d activities needed more than one attempt (%d extra attempts)",
		counts, a.retried, a.activities, a.extra)
	if err != nil {
		t.Fatalf("job failed under heavy S3 faults: %v", err)
	}
	checkOutput(t, outStore(t, "faults-small/out/"), reference(t, local, sp))
	for f := faultproxy.Error500; f <= faultproxy.Latency; f++ {
		if counts.Faults[f] == 0 {
			t.Errorf("no request met fault %s: the test did not exercise it", f)
		}
	}
	if a.extra == 0 {
		t.Errorf("no activity was retried: the S3 SDK never gave up, so the test did not exercise the classification")
	}
}
