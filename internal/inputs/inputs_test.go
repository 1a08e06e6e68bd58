package inputs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
)

// TestListAndOpenPlanned checks that List gives only the *.parquet objects,
// in key order, and that OpenPlanned refuses an object that changed or
// disappeared after it was listed, as bad input naming it.
func TestListAndOpenPlanned(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, data := range map[string]string{"b.parquet": "bb", "a.parquet": "a", "_SUCCESS": "", "notes.txt": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, err := file.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := List(ctx, st, "file://"+dir)
	if err != nil || len(objs) != 2 || objs[0].Key != "a.parquet" || objs[1].Key != "b.parquet" {
		t.Fatalf("List = %v, %v; want a.parquet, b.parquet", objs, err)
	}
	planned := job.Shard{Key: objs[1].Key, Size: objs[1].Size, ETag: objs[1].ETag}
	obj, err := OpenPlanned(ctx, st, planned, "in/b.parquet")
	if err != nil {
		t.Fatal(err)
	}
	obj.Close()
	os.WriteFile(filepath.Join(dir, "b.parquet"), []byte("longer now"), 0o644)
	os.Remove(filepath.Join(dir, "a.parquet"))
	for _, c := range []struct {
		shard job.Shard
		want  string
	}{
		{planned, "in/b.parquet: shard changed after the plan"},
		{job.Shard{Key: "a.parquet", Size: 1}, "in/a.parquet: shard disappeared after the plan"},
	} {
		_, err := OpenPlanned(ctx, st, c.shard, "in/"+c.shard.Key)
		var bad *job.InvalidError
		if !errors.As(err, &bad) || !strings.HasPrefix(bad.Msg, c.want) {
			t.Errorf("OpenPlanned(%s) = %v, want a *job.InvalidError starting %q", c.shard.Key, err, c.want)
		}
	}
	if _, err := OpenPlanned(ctx, failingStore{st}, planned, "in/b.parquet"); err == nil || errors.As(err, new(*job.InvalidError)) {
		t.Errorf("OpenPlanned on a failing store = %v, want an error to retry", err)
	}
}

// failingStore fails every Open.
type failingStore struct{ storage.Store }

func (failingStore) Open(context.Context, string) (storage.Object, error) {
	return nil, errors.New("connection reset")
}
