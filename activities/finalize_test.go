package activities

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
)

// slowDeletes is a store whose deletes each take a while, counting how many
// run at once.
type slowDeletes struct {
	storage.Store
	running, most atomic.Int64
	mu            sync.Mutex
}

func (s *slowDeletes) Delete(ctx context.Context, key string) error {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	s.mu.Lock()
	s.most.Store(max(s.most.Load(), n))
	s.mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	return s.Store.Delete(ctx, key)
}

// TestRemoveWorkInParallel checks that the clean-up of _work/ removes every
// object and runs its deletes side by side (one at a time, a large job's
// thousands of checkpoints took minutes), and leaves what is outside it.
func TestRemoveWorkInParallel(t *testing.T) {
	ctx := context.Background()
	fs, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		if err := fs.Put(ctx, fmt.Sprintf("_work/fp/tile-%03d.ckpt", i), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := fs.Put(ctx, "part-00000.parquet", strings.NewReader("p")); err != nil {
		t.Fatal(err)
	}
	s := &slowDeletes{Store: fs}
	if err := removeWork(ctx, s, "_work/fp/"); err != nil {
		t.Fatal(err)
	}
	left, err := fs.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Key != "part-00000.parquet" {
		t.Errorf("left %v, want only the part", left)
	}
	if s.most.Load() < 2 || s.most.Load() > cleanupParallel {
		t.Errorf("%d deletes at once, want 2 to %d", s.most.Load(), cleanupParallel)
	}
}
