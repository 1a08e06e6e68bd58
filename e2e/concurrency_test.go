package e2e

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Shards that serve both pairs mode (positive_ids) and labeled mode (label).
type (
	labeledCorpusRow struct {
		ID        string    `parquet:"id"`
		Embedding []float32 `parquet:"embedding,list"`
		Label     int64     `parquet:"label"`
	}
	labeledQueryRow struct {
		ID          string    `parquet:"id"`
		Embedding   []float32 `parquet:"embedding,list"`
		PositiveIDs []string  `parquet:"positive_ids,list"`
		Label       int64     `parquet:"label"`
	}
)

var concData = synth.Config{Corpus: 3000, Queries: 900, Dim: 16, Clusters: 8, CorpusShards: 3, QueryShards: 2,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 29}

// labelOf gives an id one of six labels.
func labelOf(id string) int64 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int64(h.Sum32() % 6)
}

// putLabeledEpoch writes epoch of concData with a label column on every row
// under prefix (and locally), and returns the local folder.
func putLabeledEpoch(t *testing.T, prefix string, epoch int) string {
	t.Helper()
	d := synth.Generate(concData, epoch)
	corpus := make([]labeledCorpusRow, len(d.Corpus))
	for i, r := range d.Corpus {
		corpus[i] = labeledCorpusRow{ID: r.ID, Embedding: r.Embedding, Label: labelOf(r.ID)}
	}
	queries := make([]labeledQueryRow, len(d.Queries))
	for i, r := range d.Queries {
		queries[i] = labeledQueryRow{ID: r.ID, Embedding: r.Embedding, PositiveIDs: r.PositiveIDs, Label: labelOf(r.PositiveIDs[0])}
	}
	cs, err := synth.Shards(corpus, concData.CorpusShards)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := synth.Shards(queries, concData.QueryShards)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for i, b := range cs {
		files[fmt.Sprintf("corpus/part-%05d.parquet", i)] = b
	}
	for i, b := range qs {
		files[fmt.Sprintf("queries/part-%05d.parquet", i)] = b
	}
	return putFiles(t, prefix, files)
}

// TestConcurrentJobs mines three jobs at once on the same two workers: two
// epochs of one run, and a second run that reads the very same shards as the
// first run's epoch 0 but in labeled mode (so that any cache keyed by the
// input alone would hand one job the other's data). Each must equal its own
// in-process run, and each output's _work/ must only ever hold its own job's
// fingerprint.
func TestConcurrentJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	in0, in1 := "conc/run-a/epoch-0/in/", "conc/run-a/epoch-1/in/"
	local0, local1 := putLabeledEpoch(t, in0, 0), putLabeledEpoch(t, in1, 1)
	mk := func(name, run string, epoch int, in, local string) *concurrentJob {
		out := "conc/out/" + name + "/"
		sp := spec(run, "s3://"+bucket+"/"+in, "s3://"+bucket+"/"+out)
		sp.Epoch, sp.QueryBlockRows, sp.MaxParallel = epoch, 300, 2
		if run == "e2e-conc-b" {
			sp.LabelColumn, sp.PositivesColumn = "label", ""
		}
		return &concurrentJob{name: name, out: out, spec: sp, want: reference(t, local, sp), seen: map[string]bool{}}
	}
	jobs := []*concurrentJob{
		mk("a-epoch-0", "e2e-conc-a", 0, in0, local0),
		mk("a-epoch-1", "e2e-conc-a", 1, in1, local1),
		mk("b-epoch-0", "e2e-conc-b", 0, in0, local0),
	}

	const queue = "e2e-conc"
	startWorker(t, queue)
	startWorker(t, queue)
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, j := range jobs {
		var err error
		if j.run, _, err = jobclient.Start(ctx, c, j.spec, queue, false); err != nil {
			t.Fatal(err)
		}
	}

	// Watch every output's _work/ while the jobs run.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, j := range jobs {
		store := outStore(t, j.out)
		wg.Go(func() { watchFingerprints(watchCtx, store, j.seen, &mu) })
	}
	results := map[string]workflows.Result{}
	for _, j := range jobs {
		res, err := jobclient.Wait(ctx, c, j.run, nil)
		if err != nil {
			t.Fatalf("%s failed: %v", j.name, err)
		}
		results[j.name] = res
	}
	stopWatch()
	wg.Wait()

	fingerprints := map[string]string{}
	for _, j := range jobs {
		res := results[j.name]
		t.Logf("%s: fingerprint %s, %d tiles, _work/ held %v while it ran", j.name, res.Fingerprint, res.TilesTotal, slices.Sorted(maps.Keys(j.seen)))
		checkOutput(t, outStore(t, j.out), j.want)
		if len(j.seen) == 0 {
			t.Errorf("%s: _work/ was never seen while the job ran", j.name)
		}
		for fp := range j.seen {
			if fp != res.Fingerprint {
				t.Errorf("%s: _work/%s/ appeared in its output, not its own fingerprint %s", j.name, fp, res.Fingerprint)
			}
		}
		if other, dup := fingerprints[res.Fingerprint]; dup {
			t.Errorf("%s and %s share fingerprint %s", j.name, other, res.Fingerprint)
		}
		fingerprints[res.Fingerprint] = j.name
	}
	// Sanity: the two runs on the same shards really mine different things.
	if fmt.Sprint(jobs[0].want) == fmt.Sprint(jobs[2].want) {
		t.Error("pairs and labeled mode gave the same parts: the test cannot tell the jobs apart")
	}
}

// watchFingerprints records, until ctx ends, the fingerprint folders that
// appear under the output's _work/. Checkpoints live in fingerprint folders;
// the plan's write probe is a lone object beside them.
func watchFingerprints(ctx context.Context, store storage.Store, seen map[string]bool, mu *sync.Mutex) {
	for ctx.Err() == nil {
		objs, _ := store.List(ctx, "_work/")
		mu.Lock()
		for _, o := range objs {
			if fp, _, folder := strings.Cut(strings.TrimPrefix(o.Key, "_work/"), "/"); folder {
				seen[fp] = true
			}
		}
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

// concurrentJob is one of TestConcurrentJobs' jobs: its spec, expected parts,
// run, and the fingerprint folders seen under its _work/ while it ran.
type concurrentJob struct {
	name, out string
	spec      workflows.Spec
	want      map[string][]byte
	run       client.WorkflowRun
	seen      map[string]bool
}
