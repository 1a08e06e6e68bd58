// Package location opens the stores of a job's locations (its corpus,
// queries and output URIs) once per process, each marking its errors with
// the URI it was opened for, so that a failure can name the spec field and
// location to fix (Of); and proves an output writable before any mining
// (ProbeWritable). It knows nothing of Temporal or Parquet.
package location

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/backend"
)

// Stores keeps the stores a process opened, by URI prefix. The zero value
// is ready to use.
type Stores struct {
	mu     sync.Mutex
	stores map[string]storage.Store
}

// Open returns the store of a URI prefix, opening it with open (nil means
// backend.Open) the first time. A URI that names no store is a
// *job.InvalidError: retrying cannot fix it.
func (s *Stores) Open(ctx context.Context, uri string, open func(ctx context.Context, uri string) (storage.Store, error)) (storage.Store, error) {
	s.mu.Lock()
	st, ok := s.stores[uri]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	if open == nil {
		open = func(ctx context.Context, uri string) (storage.Store, error) {
			s, _, err := backend.Open(ctx, uri)
			return s, err
		}
	}
	st, err := open(ctx, uri)
	if err != nil {
		if _, perr := storage.ParseURI(uri); perr != nil {
			return nil, job.Invalid(fmt.Sprintf("%s: %v", uri, perr))
		}
		return nil, fmt.Errorf("open store %s: %w", uri, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stores == nil {
		s.stores = map[string]storage.Store{}
	}
	s.stores[uri] = located{st, uri}
	return s.stores[uri], nil
}

// Of returns the URI of the store an error of a store opened by Stores came
// from.
func Of(err error) (uri string, ok bool) {
	var le *locationError
	if errors.As(err, &le) {
		return le.uri, true
	}
	return "", false
}

// located is a store that marks each of its errors with the URI it was
// opened for.
type located struct {
	storage.Store
	uri string
}

// locationError is an error of the store opened for uri. Its message is the
// error's own: the location is for Of.
type locationError struct {
	uri string
	err error
}

func (e *locationError) Error() string { return e.err.Error() }
func (e *locationError) Unwrap() error { return e.err }

func (l located) mark(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return &locationError{uri: l.uri, err: err}
}

func (l located) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	objs, err := l.Store.List(ctx, prefix)
	return objs, l.mark(err)
}

func (l located) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	info, err := l.Store.Stat(ctx, key)
	return info, l.mark(err)
}

func (l located) Open(ctx context.Context, key string) (storage.Object, error) {
	obj, err := l.Store.Open(ctx, key)
	if err != nil {
		return nil, l.mark(err)
	}
	return locatedObject{obj, l}, nil
}

func (l located) Put(ctx context.Context, key string, r io.Reader) error {
	return l.mark(l.Store.Put(ctx, key, r))
}

func (l located) Delete(ctx context.Context, key string) error {
	return l.mark(l.Store.Delete(ctx, key))
}

// locatedObject marks the read errors of an object of a located store.
type locatedObject struct {
	storage.Object
	l located
}

func (o locatedObject) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.Object.ReadAt(p, off)
	return n, o.l.mark(err)
}

// ProbeWritable writes and deletes job.ProbeKey, so that an output the
// worker may not write fails the job before any mining rather than after it.
func ProbeWritable(ctx context.Context, out storage.Store) error {
	if err := out.Put(ctx, job.ProbeKey, bytes.NewReader([]byte("hardneg write probe\n"))); err != nil {
		return fmt.Errorf("probe that the output is writable: %w", err)
	}
	if err := out.Delete(ctx, job.ProbeKey); err != nil {
		return fmt.Errorf("probe that the output is writable: %w", err)
	}
	return nil
}
