package activities

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.temporal.io/sdk/temporal"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// located is a store that marks each of its errors with the URI it was
// opened for, so that a failure can name the spec field and location to fix.
type located struct {
	storage.Store
	uri string
}

// locationError is an error of the store opened for uri. Its message is the
// error's own: the location is for classifyIn.
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

// classifyIn is classify for an activity of the job spec: on top of bad
// input, it judges the errors of the stores with storage.Classify. A mistake
// in a location (no such bucket, access denied, a wrong region, a path that
// is not a folder) becomes a non-retryable InvalidInput error naming the spec
// field, the location and what to check; a store that does not answer becomes
// a retryable error of type workflows.ErrStorageUnreachable, which the
// workflow reports while it waits. Every other error is left to retry.
func classifyIn(spec workflows.Spec, err error) error {
	err = classify(err)
	var app *temporal.ApplicationError
	if err == nil || errors.As(err, &app) {
		return err
	}
	v := storage.Classify(err)
	if !v.FailNow && !v.Unreachable {
		return err
	}
	where := "storage"
	var le *locationError
	if errors.As(err, &le) {
		where = fieldOf(spec, le.uri) + " " + le.uri
	}
	if v.Unreachable {
		return temporal.NewApplicationErrorWithCause(fmt.Sprintf("%s: %s: %v", where, v.Problem, err),
			workflows.ErrStorageUnreachable, err)
	}
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s: %s: %s (%v)", where, v.Problem, v.Check, err), workflows.ErrInvalidInput, err)
}

// fieldOf names the spec field whose location is uri.
func fieldOf(spec workflows.Spec, uri string) string {
	switch uri {
	case spec.Output:
		return "output"
	case spec.Corpus:
		return "corpus"
	case spec.Queries:
		return "queries"
	}
	return "location"
}
