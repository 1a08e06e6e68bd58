// Package storage is hardneg's view of an object store.
//
// A job reads embedding shards and writes results under URI prefixes such as
// s3://bucket/prefix/, file:///abs/dir/ or a plain local path. Everything the job
// needs from a store is small: list the objects under a prefix (with their size and
// ETag, which fingerprint the inputs), look one up, read byte ranges of it (Parquet
// readers want an io.ReaderAt: the footer first, then only the column chunks they
// need), write one whole object, and delete one. Store is exactly that, so that a
// new backend is a few hundred lines and one conformance suite proves it
// (see storage/storagetest).
//
// Keys are slash-separated and relative to the store's root; a backend never lets a
// key escape that root. A missing object is reported with an error that wraps
// ErrNotExist, so callers test it with errors.Is.
//
// Backends live in sub-packages: storage/s3 (aws-sdk-go-v2) and storage/file (a
// local folder). storage/backend opens the right one for a URI.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"

	"github.com/hardneg/hardneg/internal/hugepages"
)

// ErrNotExist is wrapped by every error that reports a missing object. It is
// fs.ErrNotExist, so os.IsNotExist-style checks keep working too.
var ErrNotExist = fs.ErrNotExist

// ErrPermission is wrapped by every error that reports access denied: wrong
// credentials, or a policy that does not allow the operation. It is
// fs.ErrPermission. Retrying does not help; the caller's setup must change.
var ErrPermission = fs.ErrPermission

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key  string // slash-separated, relative to the store's root
	Size int64  // bytes
	ETag string // opaque version tag: changes when the content changes
}

// Store is an object store rooted at some bucket or folder.
type Store interface {
	// List returns every object whose key starts with prefix, in key order.
	List(ctx context.Context, prefix string) ([]ObjectInfo, error)
	// Stat describes one object, or fails with an error wrapping ErrNotExist.
	Stat(ctx context.Context, key string) (ObjectInfo, error)
	// Open returns a reader of random byte ranges of one object. The reader is
	// bound to ctx: cancelling ctx makes pending and later reads fail.
	Open(ctx context.Context, key string) (Object, error)
	// Put stores the whole content of r under key, replacing any earlier object.
	// Readers never see a partly written object.
	Put(ctx context.Context, key string, r io.Reader) error
	// Delete removes one object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// Object is an open object: random reads of its bytes, and its description.
type Object interface {
	io.ReaderAt
	io.Closer
	Info() ObjectInfo
}

// ReadAll reads a whole object into memory.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	obj, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	buf := hugepages.Make[byte](int(obj.Info().Size)) // checkpoints run to tens of MB
	if _, err := obj.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf, nil
}
