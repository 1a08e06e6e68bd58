// Package file is a storage.Store over a local folder.
//
// It exists so that the whole job runs without an object store (tests, a laptop, a
// shared file system) with the same promises as S3: a Put is atomic (written to a
// temporary file in the same folder, synced, then renamed over the key), and no key
// can reach outside the root folder.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hardneg/hardneg/storage"
)

// tmpPrefix marks files being written by Put; List skips them.
const tmpPrefix = ".hardneg-tmp-"

// Store is a storage.Store rooted at a local folder.
type Store struct {
	root string
}

var _ storage.Store = (*Store)(nil)

// New returns a store rooted at dir. The folder is created on the first Put.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open folder store %s: %w", dir, err)
	}
	return &Store{root: abs}, nil
}

// path maps a key to a file path, refusing keys that are absolute or climb out
// of the root: a spec is user input, and "../../etc" must not become a path.
func (s *Store) path(key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return "", fmt.Errorf("key %q: must be a relative slash-separated path", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == ".." || part == "." {
			return "", fmt.Errorf("key %q: must not contain %q", key, part)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// List returns the files whose key starts with prefix, in key order.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	dir := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		p, err := s.path(prefix[:i+1] + "x")
		if err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
		dir = filepath.Dir(p)
	}
	var out []storage.ObjectInfo
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, info(key, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %q under %s: %w", prefix, s.root, err)
	}
	// WalkDir orders by path elements, which differs from byte order of keys
	// ("a/b" sorts after "a.b" as a key but is walked first); keys define order.
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// info describes a file. The ETag is built from size and modification time: a
// content hash would read every byte of every shard at planning time, and a
// rewrite of a shard changes its mtime anyway.
func info(key string, fi fs.FileInfo) storage.ObjectInfo {
	return storage.ObjectInfo{
		Key:  key,
		Size: fi.Size(),
		ETag: fmt.Sprintf("%x-%x", fi.ModTime().UnixNano(), fi.Size()),
	}
}

// Stat describes one file.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	p, err := s.path(key)
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("stat: %w", err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	if fi.IsDir() {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: is a folder: %w", key, storage.ErrNotExist)
	}
	return info(key, fi), nil
}

// Open opens a file for random reads.
func (s *Store) Open(ctx context.Context, key string) (storage.Object, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("is a folder: %w", storage.ErrNotExist)
		}
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return &object{ctx: ctx, f: f, info: info(key, fi)}, nil
}

type object struct {
	ctx  context.Context
	f    *os.File
	info storage.ObjectInfo
}

func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if err := o.ctx.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", o.info.Key, err)
	}
	return o.f.ReadAt(p, off)
}

func (o *object) Close() error             { return o.f.Close() }
func (o *object) Info() storage.ObjectInfo { return o.info }

// Put writes r to a temporary file beside the key, syncs it and renames it over
// the key, so a reader sees the old object or the new one, never a part.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) (err error) {
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	tmp, err := s.createTemp(p, key)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("put %s: write: %w", key, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("put %s: sync: %w", key, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("put %s: close: %w", key, err)
	}
	if err = os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("put %s: rename: %w", key, err)
	}
	return nil
}

// ctxReader stops a long copy when the context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Delete removes a file; a missing file is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	// Folders are not objects: like S3, a prefix with nothing left under it
	// is gone. Removing a folder that is not empty fails, which ends the walk.
	for dir := filepath.Dir(p); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// createTemp creates the temporary file of a Put next to p, and the folders
// above it. A Delete can remove a folder the moment it is empty, between the
// MkdirAll and the CreateTemp of a Put: that Put creates it again.
func (s *Store) createTemp(p, key string) (*os.File, error) {
	for range 3 {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		tmp, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+path.Base(key)+"-*")
		if !errors.Is(err, fs.ErrNotExist) {
			return tmp, err
		}
	}
	return nil, fmt.Errorf("folder of %s removed again and again while it was being written", key)
}
