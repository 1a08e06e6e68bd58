package file

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/storagetest"
)

func TestConformance(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	storagetest.Run(t, s, storagetest.Options{})
}

// TestFailuresClassified runs the classification table against the folder
// backend's real errors: a root below a file.
func TestFailuresClassified(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	underFile, err := New(filepath.Join(dir, "file", "sub"))
	if err != nil {
		t.Fatal(err)
	}
	storagetest.RunFailures(t, []storagetest.Failure{
		{Name: "not a folder", Store: underFile, Ops: storagetest.AllOps,
			Want: storage.Classify(syscall.ENOTDIR)},
	})
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

// TestDeleteLeavesNoEmptyFolders checks that a folder is gone once the last
// file under it is deleted, as a prefix is on S3, and that the root and
// folders still holding files stay.
func TestDeleteLeavesNoEmptyFolders(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, k := range []string{"_work/fp/a", "_work/fp/sub/b", "_work/other/c", "top"} {
		if err := s.Put(ctx, k, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(rel string) bool {
		_, err := os.Stat(filepath.Join(root, rel))
		return err == nil
	}
	for _, step := range []struct {
		del  string
		gone []string
		kept []string
	}{
		{"_work/fp/sub/b", []string{"_work/fp/sub"}, []string{"_work/fp", "_work"}},
		{"_work/fp/a", []string{"_work/fp"}, []string{"_work", "_work/other"}},
		{"_work/other/c", []string{"_work/other", "_work"}, []string{"top", "."}},
		{"top", nil, []string{"."}},
	} {
		if err := s.Delete(ctx, step.del); err != nil {
			t.Fatal(err)
		}
		for _, g := range step.gone {
			if exists(g) {
				t.Errorf("after deleting %s: %s still there", step.del, g)
			}
		}
		for _, k := range step.kept {
			if !exists(k) {
				t.Errorf("after deleting %s: %s is gone", step.del, k)
			}
		}
	}
}
