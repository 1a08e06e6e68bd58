package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
	"go.temporal.io/sdk/client"
)

// TestCancelThenResume cancels a job while its tiles are being mined on two
// workers. The job must close as cancelled within the heartbeat timeout with
// none of its activities still running (every activity in its histories
// ended, the workers' activity slots free, _work/ no longer changing), and
// leave no _SUCCESS. Started again, the epoch must complete from the
// checkpoints the cancelled run left, with parts identical to the in-process
// run.
func TestCancelThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	local := dataset(t, "cancel/in/", data)
	sp := spec("e2e-cancel", "s3://"+bucket+"/cancel/in/", "s3://"+bucket+"/cancel/out/")
	sp.QueryBlockRows = 250 // 6 blocks × 4 shards: the job is mid-mine for a while
	want := reference(t, local, sp)

	// Slow storage: on a fast machine the whole job fit between the fifth
	// tile and the cancel.
	proxy, s3env := storageProxy(t, slowStorage)
	const queue = "e2e-cancel"
	var workers []*worker
	for range 2 {
		workers = append(workers, startWorkerWith(t, workerConfig{queue: queue, metrics: true, env: s3env}))
	}
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	started := time.Now()
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	p := waitProgress(ctx, t, c, run.GetID(), "5 tiles", func(p workflows.Progress) bool { return p.TilesDone >= 5 })
	asked := time.Now()
	if err := c.CancelWorkflow(ctx, run.GetID(), ""); err != nil {
		t.Fatal(err)
	}
	err = run.Get(ctx, nil)
	took := time.Since(asked)
	var cancelled *temporal.CanceledError
	if !errors.As(err, &cancelled) {
		t.Fatalf("cancelled job ended with %v, want cancelled", err)
	}
	t.Logf("cancelled at %d/%d tiles, %.1fs after the start; closed %.1fs later", p.TilesDone, p.TilesTotal, asked.Sub(started).Seconds(), took.Seconds())
	if took > workflows.HeartbeatTimeout {
		t.Errorf("the job took %s to close after the cancel, more than the heartbeat timeout %s", took, workflows.HeartbeatTimeout)
	}

	assertNothingRunning(ctx, t, c, run.GetID(), workers)
	out := outStore(t, "cancel/out/")
	if _, err := out.Stat(ctx, job.SuccessKey); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("_SUCCESS after a cancelled job (stat: %v)", err)
	}
	work := listing(t, out, "_work/")
	time.Sleep(2 * time.Second)
	if again := listing(t, out, "_work/"); again != work {
		t.Errorf("_work/ still changing after the job was cancelled:\n%s\nthen\n%s", work, again)
	}
	partials := strings.Count(work, "/tile-")
	if partials == 0 || partials >= p.TilesTotal {
		t.Fatalf("the cancelled job left %d of %d tile partials: want some, not all", partials, p.TilesTotal)
	}

	again, how, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil || how != jobclient.Started {
		t.Fatalf("start the cancelled epoch again: %v, %q", err, how)
	}
	res, err := jobclient.Wait(ctx, c, again, nil)
	if err != nil {
		t.Fatalf("the epoch started again failed: %v", err)
	}
	t.Logf("started again: %d tiles found done, %d mined; storage: %v", res.TilesSkipped, res.TilesMined, proxy.Counts())
	if res.TilesSkipped < partials || res.TilesMined+res.TilesSkipped != res.TilesTotal {
		t.Errorf("result %+v: want the %d partials of the cancelled run reused and the rest mined", res, partials)
	}
	checkOutput(t, out, want)
}

// openActivities lists the activities a history scheduled and never ended.
func openActivities(events []*historypb.HistoryEvent) []string {
	open := map[int64]string{}
	for _, ev := range events {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			open[ev.GetEventId()] = a.GetActivityId()
		}
		for _, scheduled := range []int64{
			ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId(),
			ev.GetActivityTaskFailedEventAttributes().GetScheduledEventId(),
			ev.GetActivityTaskCanceledEventAttributes().GetScheduledEventId(),
			ev.GetActivityTaskTimedOutEventAttributes().GetScheduledEventId(),
		} {
			delete(open, scheduled)
		}
	}
	var ids []string
	for _, id := range open {
		ids = append(ids, id)
	}
	return ids
}

// listing is the keys and sizes under prefix, one per line.
func listing(t *testing.T, s storage.Store, prefix string) string {
	t.Helper()
	objs, err := s.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, o := range objs {
		fmt.Fprintf(&b, "%s %d\n", o.Key, o.Size)
	}
	return b.String()
}

// assertNothingRunning checks that nothing of a closed job still runs: every
// activity in its histories ended before the execution closed, every block
// closed, and no worker holds an activity slot.
func assertNothingRunning(ctx context.Context, t *testing.T, c client.Client, jobID string, workers []*worker) {
	t.Helper()
	// Nothing of the job is still running: every activity in its histories
	// ended before the execution closed, and every block closed.
	h := jobHistories(t, c, jobID)
	for id, events := range h {
		if open := openActivities(events); len(open) > 0 {
			t.Errorf("%s closed with activities still open: %v", id, open)
		}
		d, err := c.DescribeWorkflow(ctx, id, "")
		if err != nil {
			t.Fatal(err)
		}
		if st := d.Status; st == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Errorf("%s is still running after the job was cancelled", id)
		}
	}
	// The workers agree: no activity slot in use (a slot is released just
	// after its result is reported, so allow a moment).
	for i, w := range workers {
		used := -1.0
		for range 20 {
			if used = sumMetric(w.metrics(t), "temporal_worker_task_slots_used", `worker_type="ActivityWorker"`); used == 0 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if used != 0 {
			t.Errorf("worker %d still runs %.0f activities after the job was cancelled", i, used)
		}
	}
}
