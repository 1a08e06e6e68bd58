package activities

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// TestAllowListRefusesOutside runs jobs whose corpus, queries or output lies
// outside the worker's allow-list: Plan refuses each at once with a
// non-retryable InvalidInput naming the field, the location and the allowed
// prefixes, and writes nothing. A job inside the list is mined.
func TestAllowListRefusesOutside(t *testing.T) {
	spec := layout(t, pairsData(40, 10), 2, 1).WithDefaults()
	root := filepath.Dir(strings.TrimSuffix(strings.TrimPrefix(spec.Corpus, "file://"), "/"))
	outside := "file://" + t.TempDir() + "/"
	tests := []struct {
		field string
		edit  func(sp *workflows.Spec)
	}{
		{"corpus", func(sp *workflows.Spec) { sp.Corpus = outside }},
		{"queries", func(sp *workflows.Spec) { sp.Queries = outside }},
		{"output", func(sp *workflows.Spec) { sp.Output = outside }},
		{"output", func(sp *workflows.Spec) { sp.Output = "file://" + root + "/../escape/" }},
		{"output", func(sp *workflows.Spec) { sp.Output = "s3://some-bucket/out/" }},
	}
	allow, err := storage.ParseAllowList("file://" + root + "/")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		sp := spec
		tt.edit(&sp)
		a := quiet()
		a.Allow = allow
		_, err := a.Plan(context.Background(), workflows.PlanInput{Spec: sp})
		if err == nil {
			t.Fatalf("%s outside the allow-list accepted", tt.field)
		}
		if typ, nonRetryable := errorType(err); typ != workflows.ErrInvalidInput || !nonRetryable {
			t.Errorf("error type %q (non-retryable %v), want non-retryable %s: %v", typ, nonRetryable, workflows.ErrInvalidInput, err)
		}
		for _, want := range []string{tt.field + " ", "allow-list", "file://" + root + "/"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not contain %q", err, want)
			}
		}
	}
	if entries, _ := os.ReadDir(strings.TrimPrefix(outside, "file://")); len(entries) > 0 {
		t.Errorf("a refused job wrote %d entries to the output outside the list", len(entries))
	}
	a := quiet()
	a.Allow = allow
	runJob(t, a, spec)
}

// TestAllowListGuardsEveryActivity calls the activities after Plan with a
// spec whose output moved outside the list, as a forged history would: each
// refuses it before it opens a store.
func TestAllowListGuardsEveryActivity(t *testing.T) {
	spec := layout(t, pairsData(40, 10), 1, 1).WithDefaults()
	a := quiet()
	a.Allow, _ = storage.ParseAllowList("s3://only-this/")
	ctx := context.Background()
	calls := map[string]func() error{
		"MineTile": func() error {
			_, err := a.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: "f"})
			return err
		},
		"MergeBlock": func() error {
			_, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: "f"})
			return err
		},
		"Rebalance": func() error {
			_, err := a.Rebalance(ctx, workflows.RebalanceInput{Spec: spec, Fingerprint: "f"})
			return err
		},
		"Finalize": func() error {
			_, err := a.Finalize(ctx, workflows.FinalizeInput{Spec: spec, Fingerprint: "f"})
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if typ, nonRetryable := errorType(err); typ != workflows.ErrInvalidInput || !nonRetryable ||
			!strings.Contains(err.Error(), "allow-list") {
			t.Errorf("%s: %v, want a non-retryable %s from the allow-list", name, err, workflows.ErrInvalidInput)
		}
	}
}
