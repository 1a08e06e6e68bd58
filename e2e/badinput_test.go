package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/jobclient"
	"github.com/hardneg/hardneg/internal/synth"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Rows of hand-made shards, with the column names the spec expects unless
// the case is about a column.
type (
	corpusRow   = synth.CorpusRow
	queryRow    = synth.QueryRow
	nullableRow struct {
		ID        string    `parquet:"id"`
		Embedding []float32 `parquet:"embedding,list,optional"` // nil is a null list
	}
	noEmbeddingRow struct {
		ID     string    `parquet:"id"`
		Vector []float32 `parquet:"vector,list"`
	}
	stringEmbeddingRow struct {
		ID        string `parquet:"id"`
		Embedding string `parquet:"embedding"`
	}
	intPositivesRow struct {
		ID          string    `parquet:"id"`
		Embedding   []float32 `parquet:"embedding,list"`
		PositiveIDs []int64   `parquet:"positive_ids,list"`
	}
)

// badData is the good data set every bad case starts from: two corpus shards
// and one query shard.
var badData = synth.Config{Corpus: 400, Queries: 100, Dim: 8, Clusters: 4, CorpusShards: 2, QueryShards: 1,
	NearDupShare: 0.3, MultiPosShare: 0.3, Seed: 23}

// shard writes rows as one Parquet file.
func shard[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	b, err := synth.Shards(rows, 1)
	if err != nil {
		t.Fatal(err)
	}
	return b[0]
}

// badFiles is the good data set as files, and its rows for a case to spoil.
type badFiles struct {
	files   map[string][]byte
	corpus  [][]corpusRow // per shard
	queries []queryRow
}

func newBadFiles(t *testing.T) *badFiles {
	d := synth.Generate(badData, 0)
	half := len(d.Corpus) / 2
	f := &badFiles{files: map[string][]byte{},
		corpus: [][]corpusRow{d.Corpus[:half], d.Corpus[half:]}, queries: d.Queries}
	f.write(t)
	return f
}

// write encodes the rows into the files.
func (f *badFiles) write(t *testing.T) {
	for i, rows := range f.corpus {
		f.files[fmt.Sprintf("corpus/part-%05d.parquet", i)] = shard(t, rows)
	}
	f.files["queries/part-00000.parquet"] = shard(t, f.queries)
}

// badCase is one bad input. files spoils the data set (nil keeps it good),
// spec spoils the spec; fields are added to the JSON spec as sent, for what
// a Go Spec cannot hold. want are substrings of the job's error: the object,
// column, row or field it names.
type badCase struct {
	name   string
	files  func(t *testing.T, f *badFiles)
	spec   func(sp *workflows.Spec, in string)
	fields map[string]any
	want   []string
}

func badCases() []badCase {
	corpus1 := "corpus/part-00001.parquet"
	return []badCase{
		{name: "missing column", files: func(t *testing.T, f *badFiles) {
			f.files[corpus1] = shard(t, []noEmbeddingRow{{ID: "x", Vector: []float32{1, 2}}})
		}, want: []string{corpus1, `column "embedding"`, "missing column"}},
		{name: "wrong column type", files: func(t *testing.T, f *badFiles) {
			f.files[corpus1] = shard(t, []stringEmbeddingRow{{ID: "x", Embedding: "0.1,0.2"}})
		}, want: []string{corpus1, `column "embedding"`, "wrong type"}},
		{name: "positives of the wrong id type", files: func(t *testing.T, f *badFiles) {
			f.files["queries/part-00000.parquet"] = shard(t, []intPositivesRow{{ID: "q", Embedding: f.queries[0].Embedding, PositiveIDs: []int64{1}}})
		}, want: []string{"queries/part-00000.parquet", `column "positive_ids"`, "int64"}},
		{name: "dimension differs within a shard", files: func(t *testing.T, f *badFiles) {
			f.corpus[1][7].Embedding = f.corpus[1][7].Embedding[:5]
			f.write(t)
		}, want: []string{corpus1, `column "embedding"`, "row 7", "dimension 5"}},
		{name: "dimension differs across shards", files: func(t *testing.T, f *badFiles) {
			for i := range f.corpus[1] {
				f.corpus[1][i].Embedding = f.corpus[1][i].Embedding[:6]
			}
			f.write(t)
		}, want: []string{corpus1, `column "embedding"`, "dimension 6"}},
		{name: "NaN", files: func(t *testing.T, f *badFiles) {
			f.corpus[0][5].Embedding[2] = float32(math.NaN())
			f.write(t)
		}, want: []string{"corpus/part-00000.parquet", `column "embedding"`, "row 5", "NaN"}},
		{name: "Inf", files: func(t *testing.T, f *badFiles) {
			f.queries[3].Embedding[0] = float32(math.Inf(1))
			f.write(t)
		}, want: []string{"queries/part-00000.parquet", `column "embedding"`, "row 3", "Inf"}},
		{name: "null embedding", files: func(t *testing.T, f *badFiles) {
			rows := make([]nullableRow, len(f.corpus[1]))
			for i, r := range f.corpus[1] {
				rows[i] = nullableRow{ID: r.ID, Embedding: r.Embedding}
			}
			rows[11].Embedding = nil
			f.files[corpus1] = shard(t, rows)
		}, want: []string{corpus1, `column "embedding"`, "row 11", "null"}},
		{name: "empty shard", files: func(t *testing.T, f *badFiles) {
			f.files[corpus1] = shard(t, []corpusRow{})
		}, want: []string{corpus1, "no rows"}},
		{name: "no shard under the prefix", files: func(t *testing.T, f *badFiles) {
			delete(f.files, "corpus/part-00000.parquet")
			delete(f.files, corpus1)
			f.files["corpus/README.txt"] = []byte("the shards are elsewhere")
		}, want: []string{"corpus", "no *.parquet shard under s3://" + bucket + "/bad/"}},
		{name: "duplicate ids across shards", files: func(t *testing.T, f *badFiles) {
			f.corpus[1][4].ID = f.corpus[0][2].ID
			f.write(t)
		}, want: []string{corpus1, `column "id"`, "row 4", f0id(2), "also appears in", "corpus/part-00000.parquet"}},
		{name: "truncated parquet", files: func(t *testing.T, f *badFiles) {
			b := f.files[corpus1]
			f.files[corpus1] = b[:len(b)/2]
		}, want: []string{corpus1, "not a Parquet file, or truncated"}},
		{name: "not parquet", files: func(t *testing.T, f *badFiles) {
			f.files[corpus1] = []byte("id,embedding\nd1,\"[0.1, 0.2]\"\n")
		}, want: []string{corpus1, "not a Parquet file"}},
		{name: "labeled mode without the label column", spec: func(sp *workflows.Spec, in string) {
			sp.LabelColumn, sp.PositivesColumn = "label", ""
		}, want: []string{"part-00000.parquet", `column "label"`, "missing"}},
		{name: "unknown spec field", fields: map[string]any{"num_negative": 5},
			want: []string{"job spec", `field "num_negative"`, "unknown field"}},
		{name: "spec field of the wrong type", fields: map[string]any{"num_negatives": "five"},
			want: []string{"job spec", `field "num_negatives"`, "must be a JSON integer, got string"}},
		{name: "num_negatives below 1", spec: func(sp *workflows.Spec, in string) { sp.NumNegatives = -1 },
			want: []string{`field "num_negatives"`, "must be 1 or more"}},
		{name: "range_min not below range_max", spec: func(sp *workflows.Spec, in string) { sp.RangeMin, sp.RangeMax = 10, 10 },
			want: []string{`field "range_max"`, "greater than range_min"}},
		{name: "a format of sentence-transformers in self mode", spec: func(sp *workflows.Spec, in string) {
			sp.Queries, sp.PositivesColumn, sp.RelativeMargin, sp.OutputFormat = "", "", nil, "n-tuple"
		}, want: []string{`field "output_format"`, "needs a positive in every row"}},
		{name: "text column missing", spec: func(sp *workflows.Spec, in string) { sp.TextColumn = "body" },
			want: []string{"part-0000", `column "body"`, "missing column"}}, // shards are opened in parallel: either may be named
		{name: "output inside an input", spec: func(sp *workflows.Spec, in string) { sp.Output = in + "corpus/mined/" },
			want: []string{`field "output"`, "must not overlap corpus"}},
	}
}

// f0id is the id of row i of the good data set's first corpus shard.
func f0id(i int) string { return synth.Generate(badData, 0).Corpus[i].ID }

// TestBadInput runs each bad input of the catalogue as a job on the real
// servers, started with the spec as raw JSON (as a Python client would, so
// the workflow's own checks are what refuses it). Each must fail the job
// without retrying any activity, with an error that names the object, column,
// row or spec field, leaving no _SUCCESS and the inputs as they were.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-bad"
	startWorker(t, queue)
	c := dial(t)
	for _, tc := range badCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prefix := "bad/" + strings.ReplaceAll(tc.name, " ", "-") + "/"
			f := newBadFiles(t)
			if tc.files != nil {
				tc.files(t, f)
			}
			putFiles(t, prefix+"in/", f.files)
			in := "s3://" + bucket + "/" + prefix + "in/"
			sp := spec("e2e-bad-"+strings.ReplaceAll(tc.name, " ", "-"), in, "s3://"+bucket+"/"+prefix+"out/")
			if tc.spec != nil {
				tc.spec(&sp, in)
			}
			runBad(t, c, queue, prefix, sp, tc.fields, tc.want)
		})
	}
}

// TestWrongS3Credentials runs a job on a worker whose S3 secret key is wrong:
// access denied is not worth retrying, so the job must fail at once, naming
// the bucket, and without echoing either key.
func TestWrongS3Credentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-badcreds"
	const wrong = "not-the-secret-key-4242"
	w := startWorkerWith(t, workerConfig{queue: queue, env: []string{"AWS_SECRET_ACCESS_KEY=" + wrong}})
	c := dial(t)
	prefix := "badcreds/"
	putDataset(t, prefix+"in/", badData, 0)
	sp := spec("e2e-badcreds", "s3://"+bucket+"/"+prefix+"in/", "s3://"+bucket+"/"+prefix+"out/")
	msg := runBad(t, c, queue, prefix, sp, nil, []string{"s3://" + bucket + "/" + prefix})
	for _, secret := range []string{wrong, env.s3.SecretKey} {
		if strings.Contains(msg, secret) || strings.Contains(w.log.String(), secret) {
			t.Errorf("a secret key shows in the error or the worker's log")
		}
	}
}

// runBad starts the job of sp as raw JSON (with fields added), waits for it
// to fail and checks the failure; it returns the error's message.
func runBad(t *testing.T, c client.Client, queue, prefix string, sp workflows.Spec, fields map[string]any, want []string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inputs := snapshot(t, outStore(t, prefix+"in/"))
	raw, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	var payload map[string]any
	if err := json.Unmarshal(raw, &payload); err != nil {
		t.Fatal(err)
	}
	for k, v := range fields {
		payload[k] = v
	}
	start := time.Now()
	run, err := c.ExecuteWorkflow(ctx, workflows.StartOptions(sp, queue), workflows.WorkflowName, payload)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jobclient.Wait(ctx, c, run, nil)
	took := time.Since(start)
	if err == nil {
		t.Fatal("the job succeeded on bad input")
	}
	if ctx.Err() != nil {
		t.Fatalf("the job did not fail within 2 minutes: %v", err)
	}
	// The headline is the first application error: what the UI and the
	// starter show.
	headline := err.Error()
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		headline = app.Message()
	}
	t.Logf("failed after %.1fs: %s", took.Seconds(), headline)
	// The README promises bad input fails in a second; two leave room for a
	// loaded machine. (A job that waited for its rebalance, which follows the
	// mine phase, to acknowledge its cancellation took 2.3–2.5 s here.)
	if d := closedAfter(t, c, run.GetID(), run.GetRunID()); d > 2*time.Second {
		t.Errorf("the job took %v to fail on bad input, want about a second", d)
	}
	for _, w := range want {
		if !strings.Contains(headline, w) {
			t.Errorf("error %q does not name %q", headline, w)
		}
	}
	if app != nil && app.Type() == workflows.ErrInvalidInput && !app.NonRetryable() {
		t.Errorf("InvalidInput error is retryable")
	}
	if a := countAttempts(jobHistories(t, c, run.GetID())); a.retried != 0 {
		t.Errorf("%d of %d activities were retried (%d extra attempts) on bad input", a.retried, a.activities, a.extra)
	}
	out := outStore(t, prefix+"out/")
	if _, err := out.Stat(ctx, job.SuccessKey); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("_SUCCESS after a failed job (stat: %v)", err)
	}
	after := snapshot(t, outStore(t, prefix+"in/"))
	if fmt.Sprint(after) != fmt.Sprint(inputs) {
		t.Errorf("the inputs changed:\nbefore %v\nafter  %v", inputs, after)
	}
	return err.Error()
}

// TestAbsentPositivesAreCounted gives queries positives that name ids absent
// from the corpus. That is not an error: the job succeeds, its parts equal
// the in-process run's, and the manifest counts the absent positives.
func TestAbsentPositivesAreCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const queue = "e2e-absent"
	startWorker(t, queue)
	c := dial(t)
	f := newBadFiles(t)
	absent := 0
	for q := 0; q < len(f.queries); q += 7 {
		f.queries[q].PositiveIDs = append(f.queries[q].PositiveIDs, fmt.Sprintf("no-such-doc-%d", q))
		absent++
	}
	f.queries[1].PositiveIDs = []string{"no-such-doc-only"} // a query with no positive in the corpus at all
	absent++
	f.write(t)
	prefix := "absent/"
	local := putFiles(t, prefix+"in/", f.files)
	sp := spec("e2e-absent", "s3://"+bucket+"/"+prefix+"in/", "s3://"+bucket+"/"+prefix+"out/")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	run, _, err := jobclient.Start(ctx, c, sp, queue, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jobclient.Wait(ctx, c, run, nil); err != nil {
		t.Fatalf("job with absent positives failed: %v", err)
	}
	out := outStore(t, prefix+"out/")
	checkOutput(t, out, reference(t, local, sp))
	data, err := storage.ReadAll(ctx, out, job.ManifestKey)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Statistics struct {
			Missing int `json:"positives_not_in_corpus"`
		} `json:"statistics"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Statistics.Missing != absent {
		t.Errorf("manifest counts %d positives not in the corpus, want %d", m.Statistics.Missing, absent)
	}
}

// closedAfter returns how long a closed workflow run ran, by the server's
// clock.
func closedAfter(t *testing.T, c client.Client, id, runID string) time.Duration {
	t.Helper()
	d, err := c.DescribeWorkflow(context.Background(), id, runID)
	if err != nil {
		t.Fatal(err)
	}
	if d.WorkflowCloseTime == nil {
		t.Fatalf("workflow %s is still open", id)
	}
	return d.WorkflowCloseTime.Sub(d.WorkflowStartTime)
}
