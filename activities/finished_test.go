package activities

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/backend"
	"github.com/hardneg/hardneg/workflows"
)

// writeLog records every write and delete of the stores it opens, in order.
type writeLog struct {
	mu  sync.Mutex
	ops []string // "put KEY" or "delete KEY"
}

type loggedStore struct {
	storage.Store
	log *writeLog
}

func (s loggedStore) Put(ctx context.Context, key string, r io.Reader) error {
	s.log.add("put " + key)
	return s.Store.Put(ctx, key, r)
}

func (s loggedStore) Delete(ctx context.Context, key string) error {
	s.log.add("delete " + key)
	return s.Store.Delete(ctx, key)
}

func (l *writeLog) add(op string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
}

func (l *writeLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops)
}

// logged returns quiet activities whose stores record their writes in log.
func logged(log *writeLog) *Activities {
	a := quiet()
	a.OpenStore = func(ctx context.Context, uri string) (storage.Store, error) {
		s, _, err := backend.Open(ctx, uri)
		if err != nil {
			return nil, err
		}
		return loggedStore{Store: s, log: log}, nil
	}
	return a
}

// outputFiles maps every file under a file:// output to its bytes and
// modification time.
func outputFiles(t *testing.T, output string) map[string]string {
	t.Helper()
	root := strings.TrimPrefix(output, "file://")
	files := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files[strings.TrimPrefix(p, root)] = fi.ModTime().Format(time.RFC3339Nano) + " " + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestFinished checks when Finished finds the output finished with the
// spec's inputs, that it reports the result the manifest describes, and that
// it writes nothing.
func TestFinished(t *testing.T) {
	spec := layout(t, pairsData(60, 20), 2, 1)
	spec.QueryBlockRows = 8
	spec = spec.WithDefaults()
	ctx := context.Background()
	finished := func(s workflows.Spec) workflows.FinishedResult {
		t.Helper()
		var log writeLog
		r, err := logged(&log).Finished(ctx, workflows.FinishedInput{Spec: s})
		if err != nil {
			t.Fatalf("Finished: %v", err)
		}
		if ops := log.list(); len(ops) != 0 {
			t.Errorf("Finished wrote to the store: %v", ops)
		}
		return r
	}
	if r := finished(spec); r.Finished || !strings.Contains(r.Reason, "no _SUCCESS") {
		t.Fatalf("before any job: %+v", r)
	}
	plan := runJob(t, quiet(), spec)
	before := outputFiles(t, spec.Output)

	r := finished(spec)
	if !r.Finished || r.Fingerprint != plan.Fingerprint || r.Blocks != plan.Blocks || r.Blocks != 3 ||
		r.QueryRows != plan.QueryRows || r.CorpusRows != plan.CorpusRows || r.CorpusShards != plan.CorpusShards ||
		r.QueryShards != plan.QueryShards || r.Manifest != job.ManifestKey || r.Rebalance.Parts != 3 || r.Rebalance.Rows == 0 {
		t.Errorf("finished output %+v, plan %+v", r, plan)
	}
	same := spec
	same.MaxParallel, same.Precision, same.Force = 1, "quantized", true
	if r := finished(same); !r.Finished {
		t.Errorf("max_parallel, precision or force made the output unfinished: %s", r.Reason)
	}

	other := spec
	other.NumNegatives = 2
	if r := finished(other); r.Finished || !strings.Contains(r.Reason, "fingerprint") {
		t.Errorf("another num_negatives: %+v", r)
	}
	if after := outputFiles(t, spec.Output); !mapsEqual(after, before) {
		t.Errorf("the output changed while Finished looked at it")
	}

	// A part gone: not finished.
	out := strings.TrimPrefix(spec.Output, "file://")
	part := filepath.Join(out, job.PartKey(1))
	data := mustRead(t, part)
	os.Remove(part)
	if r := finished(spec); r.Finished || !strings.Contains(r.Reason, job.PartKey(1)) {
		t.Errorf("part 1 missing: %+v", r)
	}
	os.WriteFile(part, data, 0o644)

	// A shard added to the corpus: another fingerprint.
	dir := strings.TrimPrefix(spec.Corpus, "file://")
	if err := os.WriteFile(filepath.Join(dir, "shard-009.parquet"), mustRead(t, filepath.Join(dir, "shard-000.parquet")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := finished(spec); r.Finished || !strings.Contains(r.Reason, "fingerprint") {
		t.Errorf("a shard added: %+v", r)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestJobStartedAgain runs a job through the workflow, then again with the
// same spec (it returns the finished output without writing anything), with
// force (it mines again, the same parts), and with fewer, larger blocks (it
// mines again and the parts of the first job it does not rewrite are removed
// before _SUCCESS).
func TestJobStartedAgain(t *testing.T) {
	spec := layout(t, pairsData(60, 20), 2, 1)
	spec.QueryBlockRows = 4 // 5 blocks
	first := runWorkflow(t, quiet(), spec)
	if first.Reused || first.TilesMined != first.TilesTotal || first.Blocks != 5 {
		t.Fatalf("first job: %+v", first)
	}
	before, firstParts := outputFiles(t, spec.Output), partBytes(t, spec)

	var log writeLog
	again := runWorkflow(t, logged(&log), spec)
	if !again.Reused || again.TilesMined != 0 || again.TilesTotal != first.TilesTotal || again.Blocks != 5 ||
		again.Fingerprint != first.Fingerprint || again.Queries != first.Queries || again.Rebalance != first.Rebalance {
		t.Errorf("started again: %+v, want the first job's result, reused (first %+v)", again, first)
	}
	if ops := log.list(); len(ops) != 0 {
		t.Errorf("a reused job wrote: %v", ops)
	}
	if after := outputFiles(t, spec.Output); !mapsEqual(after, before) {
		t.Errorf("a reused job changed the output")
	}

	forced := spec
	forced.Force = true
	res := runWorkflow(t, quiet(), forced)
	if res.Reused || res.TilesMined != res.TilesTotal || res.Fingerprint != first.Fingerprint {
		t.Errorf("force: %+v, want every tile mined again", res)
	}
	sameParts(t, "force", partBytes(t, spec), firstParts)

	fewer := spec
	fewer.QueryBlockRows = 8 // 3 blocks: parts 3 and 4 are the first job's
	log = writeLog{}
	res = runWorkflow(t, logged(&log), fewer)
	if res.Reused || res.TilesMined != res.TilesTotal || res.Blocks != 3 || res.Fingerprint == first.Fingerprint {
		t.Fatalf("another fingerprint: %+v, want every tile mined", res)
	}
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range partBytes(t, spec) {
			if !yield(n) {
				return
			}
		}
	})
	if !slices.Equal(names, []string{job.PartKey(0), job.PartKey(1), job.PartKey(2)}) {
		t.Errorf("parts after a job of 3 blocks over one of 5: %v", names)
	}
	ops := log.list()
	success := slices.Index(ops, "put "+job.SuccessKey)
	for _, stale := range []string{job.PartKey(3), job.PartKey(4)} {
		if i := slices.Index(ops, "delete "+stale); i < 0 || i > success {
			t.Errorf("%s removed at write %d, _SUCCESS written at %d: want it removed before", stale, i, success)
		}
	}
}
