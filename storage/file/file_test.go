package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hardneg/hardneg/storage/storagetest"
)

func TestConformance(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, s, storagetest.Options{})
}

func TestKeysCannotEscapeRoot(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(filepath.Join(dir, "root"))
	ctx := context.Background()
	for _, key := range []string{"../outside", "a/../../outside", "/etc/passwd", "a/./b", "", `a\..\b`} {
		if err := s.Put(ctx, key, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want refusal", key)
		}
		if _, err := s.Stat(ctx, key); err == nil {
			t.Errorf("Stat(%q) succeeded, want refusal", key)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "outside")); err == nil {
		t.Errorf("a key escaped the root")
	}
}

func TestPutLeavesNoTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s, _ := New(dir)
	if err := s.Put(context.Background(), "a/b", strings.NewReader("data")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(entries) != 1 || entries[0].Name() != "b" {
		t.Errorf("folder holds %v, want only b", entries)
	}
}
