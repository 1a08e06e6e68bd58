package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/workflows"
)

// TestWrongLocationsFailFast starts jobs whose locations are wrong in the ways
// people get them wrong, against the real dev server and versitygw: each
// fails in under two seconds, without a retry, naming the field and the
// location and saying what to check.
func TestWrongLocationsFailFast(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-locations"
	// The buckets that do not exist are allowed: the test is about what the
	// store answers.
	startWorkerWith(t, workerConfig{queue: queue, env: []string{"HARDNEG_ALLOWED_PREFIXES=" + testAllowList +
		",s3://no-such-output-bucket/,s3://no-such-corpus-bucket/"}})
	c := dial(t)
	prefix := "locations/"
	putDataset(t, prefix+"in/", badData, 0)
	in := "s3://" + bucket + "/" + prefix + "in/"
	out := "s3://" + bucket + "/" + prefix + "out/"
	tests := []struct {
		name string
		edit func(sp *workflows.Spec)
		want []string
	}{
		{"output bucket missing", func(sp *workflows.Spec) { sp.Output = "s3://no-such-output-bucket/out/" },
			[]string{"output s3://no-such-output-bucket/out/", "bucket does not exist", "check the name or create it", env.s3.Endpoint}},
		{"corpus bucket missing", func(sp *workflows.Spec) { sp.Corpus = "s3://no-such-corpus-bucket/corpus/" },
			[]string{"corpus s3://no-such-corpus-bucket/corpus/", "bucket does not exist", "check the name or create it"}},
		{"no shards under prefix", func(sp *workflows.Spec) { sp.Corpus = in + "nothing-here/" },
			[]string{"corpus", in + "nothing-here/", "no *.parquet shard"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec(fmt.Sprintf("e2e-locations-%d", i), in, out)
			tt.edit(&sp)
			runBad(t, c, queue, prefix, sp, nil, tt.want)
			took := failTime(t, c, sp.Run)
			if took > 2*time.Second {
				t.Errorf("the job took %v to fail, want under 2s", took)
			}
		})
	}
}

// failTime is how long the job of run took from its start to its failure,
// by the server's clock.
func failTime(t *testing.T, c client.Client, run string) time.Duration {
	t.Helper()
	return closedAfter(t, c, workflows.WorkflowID(run, 0), "")
}

// TestWaitsForStorageThatComesBack starts a job whose worker's S3 endpoint
// has nothing listening. The job waits in the open: its progress says why.
// Once the endpoint answers (a forwarder to versitygw starts on its port),
// the job completes, and its parts equal the in-process run's.
func TestWaitsForStorageThatComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-unreachable"
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startWorkerWith(t, workerConfig{queue: queue, env: []string{"AWS_ENDPOINT_URL_S3=http://" + addr}})
	c := dial(t)
	prefix := "unreachable/"
	local := putDataset(t, prefix+"in/", badData, 0)
	sp := spec("e2e-unreachable", "s3://"+bucket+"/"+prefix+"in/", "s3://"+bucket+"/"+prefix+"out/")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	p := waitProgress(ctx, t, c, run.GetID(), "the job to say it waits for storage", func(p workflows.Progress) bool {
		return strings.Contains(p.Waiting, "connection refused")
	})
	t.Logf("while the endpoint is down: %s", p.Waiting)
	for _, w := range []string{"waiting for storage, attempt", "output s3://" + bucket + "/" + prefix + "out/", addr} {
		if !strings.Contains(p.Waiting, w) {
			t.Errorf("progress %q does not say %q", p.Waiting, w)
		}
	}
	if p.Phase != workflows.PhasePlan {
		t.Errorf("phase %q while waiting, want %q", p.Phase, workflows.PhasePlan)
	}
	forward(t, addr, strings.TrimPrefix(env.s3.Endpoint, "http://"))
	res, err := jobclient.Wait(ctx, c, run, nil)
	if err != nil {
		var app *temporal.ApplicationError
		errors.As(err, &app)
		t.Fatalf("job failed after the endpoint came back: %v (%v)", err, app)
	}
	if res.TilesMined == 0 {
		t.Errorf("no tile mined: %+v", res)
	}
	if p, err := jobclient.Progress(ctx, c, run.GetID()); err == nil && p.Waiting != "" {
		t.Errorf("still waiting after completion: %q", p.Waiting)
	}
	checkOutput(t, outStore(t, prefix+"out/"), reference(t, local, sp))
}

// forward accepts connections on addr and copies each to and from target
// until the test ends: an endpoint that comes up late. Connections still
// open at the end close with the worker.
func forward(t *testing.T, addr, target string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go pipe(in, target)
		}
	}()
}

// pipe copies between in and a new connection to target until either closes.
func pipe(in net.Conn, target string) {
	defer in.Close()
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer out.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(out, in); done <- struct{}{} }()
	go func() { io.Copy(in, out); done <- struct{}{} }()
	<-done
}
