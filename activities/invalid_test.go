package activities

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/workflows"
)

type plainRow struct {
	ID        string    `parquet:"id"`
	Embedding []float32 `parquet:"embedding,list"`
}

// TestBadInputIsNonRetryable feeds bad inputs to the activity that meets them
// first and checks for a non-retryable InvalidInput error naming the object,
// the column and, where one row is at fault, the row.
func TestBadInputIsNonRetryable(t *testing.T) {
	for _, tt := range badInputs() {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.setup(t).WithDefaults()
			ctx := context.Background()
			a := quiet()
			plan, err := a.Plan(ctx, workflows.PlanInput{Spec: spec})
			if tt.stage == "tile" {
				if err != nil {
					t.Fatalf("Plan: %v", err)
				}
				err = mineUntilError(a, spec, plan)
			}
			if err == nil {
				t.Fatalf("bad input accepted at the %s stage", tt.stage)
			}
			typ, nonRetryable := errorType(err)
			if typ != workflows.ErrInvalidInput || !nonRetryable {
				t.Errorf("error type %q (non-retryable %v), want non-retryable %s: %v", typ, nonRetryable, workflows.ErrInvalidInput, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not contain %q", err, w)
				}
			}
		})
	}
}

// badInput is an input TestBadInputIsNonRetryable feeds the activities.
type badInput struct {
	name  string
	setup func(t *testing.T) workflows.Spec
	stage string   // "plan" or "tile": where the error shows
	want  []string // substrings of the message
}

// badInputs are the cases of TestBadInputIsNonRetryable.
func badInputs() []badInput {
	return []badInput{
		{"dimension differs across shards", func(t *testing.T) workflows.Spec {
			ds := pairsData(40, 10)
			for i := 20; i < 40; i++ {
				ds.corpus[i].emb = ds.corpus[i].emb[:8]
			}
			return layout(t, ds, 2, 1)
		}, "plan", []string{"corpus/shard-001.parquet", `column "embedding"`, "dimension 8"}},
		{"missing positives column", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 2, 1)
			dir := strings.TrimPrefix(spec.Queries, "file://")
			os.RemoveAll(dir)
			writeAs(t, dir, []plainRow{{ID: "q1", Embedding: make([]float32, 16)}})
			return spec
		}, "plan", []string{"queries/shard-000.parquet", `column "positive_ids"`, "missing"}},
		{"missing text column", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 2, 1)
			spec.TextColumn = "body"
			return spec
		}, "plan", []string{"shard-00", `column "body"`, "missing column"}},
		{"text column not a string", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 2, 1)
			spec.TextColumn = "embedding"
			return spec
		}, "plan", []string{"shard-00", `column "embedding"`, "a list", "want a string"}},
		{"labeled mode without labels", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 2, 1)
			spec.LabelColumn, spec.PositivesColumn = "label", ""
			return spec
		}, "plan", []string{"shard-000.parquet", `column "label"`}},
		{"duplicate ids across shards", func(t *testing.T) workflows.Spec {
			ds := pairsData(40, 10)
			ds.corpus[30].id = ds.corpus[3].id
			return layout(t, ds, 2, 1)
		}, "plan", []string{"corpus/shard-001.parquet", `column "id"`, "row 10", ds3(), "also appears in", "shard-000.parquet"}},
		{"duplicate query ids across shards", func(t *testing.T) workflows.Spec {
			ds := pairsData(40, 10)
			ds.queries[8].id = ds.queries[1].id
			return layout(t, ds, 2, 2)
		}, "plan", []string{"queries/shard-001.parquet", "row 3", "also appears in", "queries/shard-000.parquet row 1", "query ids must be unique"}},
		{"no shard", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 1, 1)
			os.RemoveAll(strings.TrimPrefix(spec.Corpus, "file://"))
			os.MkdirAll(strings.TrimPrefix(spec.Corpus, "file://"), 0o755)
			return spec
		}, "plan", []string{"corpus: no *.parquet shard"}},
		{"not parquet", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 2, 1)
			os.WriteFile(filepath.Join(strings.TrimPrefix(spec.Corpus, "file://"), "shard-001.parquet"), []byte("not a parquet file at all"), 0o644)
			return spec
		}, "plan", []string{"corpus/shard-001.parquet"}},
		{"NaN embedding", func(t *testing.T) workflows.Spec {
			ds := pairsData(40, 10)
			ds.corpus[25].emb[3] = float32(math.NaN())
			return layout(t, ds, 2, 1)
		}, "tile", []string{"corpus/shard-001.parquet", `column "embedding"`, "row 5"}},
		{"bad spec", func(t *testing.T) workflows.Spec {
			spec := layout(t, pairsData(40, 10), 1, 1)
			spec.RangeMin, spec.RangeMax = 5, 3
			return spec
		}, "plan", []string{`field "range_max"`}},
	}
}

// mineUntilError mines the tiles of plan in order and returns the first error.
func mineUntilError(a *Activities, spec workflows.Spec, plan workflows.PlanResult) error {
	ctx := context.Background()
	for b := range plan.Blocks {
		for s := range plan.CorpusShards {
			if _, err := a.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: plan.Fingerprint, Block: b, Shard: s}); err != nil {
				return err
			}
		}
	}
	return nil
}

// ds3 is the id that the duplicate-id case repeats.
func ds3() string { return pairsData(40, 10).corpus[3].id }

func writeAs[T any](t *testing.T, dir string, rows []T) {
	t.Helper()
	shards, err := synthShards(rows)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "shard-000.parquet"), shards, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestShardChangedAfterPlan checks that a tile whose corpus shard was
// rewritten or removed after the plan fails with a non-retryable
// InvalidInput error whose message is the one naming the shard, and nothing
// more.
func TestShardChangedAfterPlan(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(path string) error
		want   string
	}{
		{"rewritten", func(path string) error { return os.WriteFile(path, []byte("shorter"), 0o644) }, "shard changed after the plan"},
		{"removed", os.Remove, "shard disappeared after the plan"},
	} {
		t.Run(c.name, func(t *testing.T) {
			spec := layout(t, pairsData(40, 10), 2, 1).WithDefaults()
			a := quiet()
			plan, err := a.Plan(context.Background(), workflows.PlanInput{Spec: spec})
			if err != nil {
				t.Fatal(err)
			}
			shard := filepath.Join(strings.TrimPrefix(spec.Corpus, "file://"), "shard-001.parquet")
			if err := c.change(shard); err != nil {
				t.Fatal(err)
			}
			err = mineUntilError(a, spec, plan)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != workflows.ErrInvalidInput || !app.NonRetryable() {
				t.Fatalf("mine after the shard was %s: %v, want a non-retryable %s error", c.name, err, workflows.ErrInvalidInput)
			}
			if want := workflows.WithSlash(spec.Corpus) + "shard-001.parquet: " + c.want; !strings.HasPrefix(app.Message(), want) {
				t.Errorf("message %q, want it to start %q", app.Message(), want)
			}
		})
	}
}
