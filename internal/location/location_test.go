package location

import (
	"context"
	"errors"
	"testing"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
)

// TestStores checks that a store is opened once per URI, that its errors
// name the URI it was opened for, and that a URI naming no store is bad
// input rather than an error to retry.
func TestStores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opens := 0
	open := func(ctx context.Context, uri string) (storage.Store, error) {
		opens++
		if uri != "file://"+dir {
			return nil, errors.New("no such store")
		}
		return file.New(dir)
	}
	var s Stores
	st, err := s.Open(ctx, "file://"+dir, open)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Open(ctx, "file://"+dir, open); again != st || opens != 1 {
		t.Errorf("second Open: same store %v, %d opens; want the same store, 1 open", again == st, opens)
	}
	_, err = st.Stat(ctx, "missing")
	if uri, ok := Of(err); !ok || uri != "file://"+dir || !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Of(%v) = %q, %v; want the store's URI, and the error still ErrNotExist", err, uri, ok)
	}
	if _, ok := Of(errors.New("elsewhere")); ok {
		t.Error("Of found a location in an error of no store")
	}
	var bad *job.InvalidError
	if _, err := s.Open(ctx, "nonsense://x", open); !errors.As(err, &bad) {
		t.Errorf("Open of a URI naming no store: %v, want a *job.InvalidError", err)
	}
	if _, err := s.Open(ctx, "file:///elsewhere", open); err == nil || errors.As(err, &bad) {
		t.Errorf("Open of a store that fails: %v, want an error to retry", err)
	}
}

// TestProbeWritable checks that the probe leaves nothing behind in a
// writable output.
func TestProbeWritable(t *testing.T) {
	ctx := context.Background()
	st, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := ProbeWritable(ctx, st); err != nil {
		t.Fatal(err)
	}
	if objs, err := st.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("after the probe the output holds %v (%v), want nothing", objs, err)
	}
}
