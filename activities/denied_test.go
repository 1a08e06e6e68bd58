package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// deniedStore answers every call as a store whose credentials are wrong does.
type deniedStore struct{}

func denied(op, key string) error {
	return fmt.Errorf("%s s3://b/%s: %w: api error SignatureDoesNotMatch", op, key, storage.ErrPermission)
}

func (deniedStore) List(_ context.Context, p string) ([]storage.ObjectInfo, error) {
	return nil, denied("list", p)
}
func (deniedStore) Stat(_ context.Context, k string) (storage.ObjectInfo, error) {
	return storage.ObjectInfo{}, denied("stat", k)
}
func (deniedStore) Open(_ context.Context, k string) (storage.Object, error) {
	return nil, denied("open", k)
}
func (deniedStore) Put(_ context.Context, k string, _ io.Reader) error { return denied("put", k) }
func (deniedStore) Delete(_ context.Context, k string) error           { return denied("delete", k) }

// TestAccessDeniedIsNotRetried calls every activity against a store that
// denies access and checks that each fails with a non-retryable error saying
// so: retrying cannot fix credentials.
func TestAccessDeniedIsNotRetried(t *testing.T) {
	a := quiet()
	a.OpenStore = func(context.Context, string) (storage.Store, error) { return deniedStore{}, nil }
	spec := workflows.Spec{Run: "r", Corpus: "s3://b/corpus/", Queries: "s3://b/queries/", Output: "s3://b/out/"}.WithDefaults()
	ctx := context.Background()
	calls := map[string]func() error{
		"Plan": func() error { _, err := a.Plan(ctx, workflows.PlanInput{Spec: spec}); return err },
		"MineTile": func() error {
			_, err := a.MineTile(ctx, workflows.TileInput{Spec: spec, Fingerprint: "fp"})
			return err
		},
		"MergeBlock": func() error {
			_, err := a.MergeBlock(ctx, workflows.MergeInput{Spec: spec, Fingerprint: "fp"})
			return err
		},
		"Rebalance": func() error {
			_, err := a.Rebalance(ctx, workflows.RebalanceInput{Spec: spec, Fingerprint: "fp", Blocks: 1})
			return err
		},
		"Finalize": func() error {
			_, err := a.Finalize(ctx, workflows.FinalizeInput{Spec: spec, Fingerprint: "fp", Blocks: 1})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			err := call()
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || !app.NonRetryable() || !strings.Contains(app.Message(), "access denied") {
				t.Errorf("%s: %v, want a non-retryable access-denied error", name, err)
			}
		})
	}
}
