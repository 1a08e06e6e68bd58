// Package inputs lists, opens and checks the input shards of a job: the
// *.parquet objects under the corpus and queries prefixes (List), their
// footers checked against each other and the mode, ids unique across shards
// and max_positives counted (Source.Check, which lays out the job's plan of
// them), the fingerprint of the inputs as a listing gives it
// (Source.Fingerprint), and the opening of a shard the plan listed, checked
// to be the object the plan saw (Source.Open, OpenPlanned).
//
// Bad input is a *dataset.InputError or a *job.InvalidError naming the
// shard, column and row; it knows nothing of Temporal.
package inputs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Source is where a job's input shards are read from, and how.
type Source struct {
	// Store returns the store of a URI prefix.
	Store func(ctx context.Context, uri string) (storage.Store, error)
	// Count wraps what a shard is read through from its store, to count the
	// bytes read; nil reads as is.
	Count func(io.ReaderAt) io.ReaderAt
	// Beat records that a long step made progress; nil records nothing.
	Beat func(ctx context.Context, details ...any)
}

// Counted returns r, wrapped by Count when it is set.
func (s Source) Counted(r io.ReaderAt) io.ReaderAt {
	if s.Count == nil {
		return r
	}
	return s.Count(r)
}

func (s Source) beat(ctx context.Context, details ...any) {
	if s.Beat != nil {
		s.Beat(ctx, details...)
	}
}

// List lists the input shards under uri: its *.parquet objects, in key
// order. Plan and Finished list them alike, so that both fingerprint the
// same shards.
func List(ctx context.Context, st storage.Store, uri string) ([]storage.ObjectInfo, error) {
	objs, err := st.List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", uri, err)
	}
	return slices.DeleteFunc(objs, func(o storage.ObjectInfo) bool { return path.Ext(o.Key) != ".parquet" }), nil
}

// Fingerprint is the fingerprint the plan of the spec's inputs as they are
// now would have (job.Fingerprint), from their listings alone: it hashes
// each shard's key, size and ETag, which a listing gives, and not what a
// footer holds. ok is false when an input prefix holds no shard (Check
// refuses that).
func (s Source) Fingerprint(ctx context.Context, spec workflows.Spec) (_ string, ok bool, _ error) {
	p := &job.Plan{Spec: spec}
	for _, g := range []struct {
		uri  string
		dest *[]job.Shard
	}{{spec.Corpus, &p.Corpus}, {spec.Queries, &p.Queries}} {
		if g.uri == "" {
			continue
		}
		st, err := s.Store(ctx, g.uri)
		if err != nil {
			return "", false, err
		}
		objs, err := List(ctx, st, g.uri)
		if err != nil {
			return "", false, err
		}
		s.beat(ctx, "listed", g.uri) // a listing of many pages takes a while
		if len(objs) == 0 {
			return "", false, nil
		}
		for _, o := range objs {
			*g.dest = append(*g.dest, job.Shard{Key: o.Key, Size: o.Size, ETag: o.ETag})
		}
	}
	return job.Fingerprint(p), true, nil
}

// Columns are the dataset column names of a spec.
func Columns(s workflows.Spec) dataset.Columns {
	c := dataset.Columns{ID: s.IDColumn, Embedding: s.EmbeddingColumn, Positives: s.PositivesColumn, Text: s.TextColumn}
	if s.LabelColumn != "" {
		c.Label = s.LabelColumn
	}
	return c
}

// Open opens one input shard the plan listed (OpenPlanned) and reads its
// footer. closer closes the object.
func (s Source) Open(ctx context.Context, st storage.Store, info job.Shard, name string, spec workflows.Spec) (*dataset.Shard, func(), error) {
	obj, err := OpenPlanned(ctx, st, info, name)
	if err != nil {
		return nil, nil, err
	}
	return OpenFrom(s.Counted(obj), obj, info, name, spec)
}

// OpenFrom opens the shard name read through r; closing it closes obj.
func OpenFrom(r io.ReaderAt, obj storage.Object, info job.Shard, name string, spec workflows.Spec) (*dataset.Shard, func(), error) {
	sh, err := dataset.OpenShard(r, info.Size, name, Columns(spec))
	if err != nil {
		obj.Close()
		return nil, nil, fmt.Errorf("read footer of %s: %w", name, err)
	}
	return sh, func() { obj.Close() }, nil
}

// OpenPlanned opens a shard the plan listed, and checks it is the object
// the plan saw: one that disappeared or changed is a *job.InvalidError.
func OpenPlanned(ctx context.Context, st storage.Store, info job.Shard, name string) (storage.Object, error) {
	obj, err := st.Open(ctx, info.Key)
	if err != nil {
		if errors.Is(err, storage.ErrNotExist) {
			// The plan listed it: the input changed under the job.
			return nil, job.Invalid(fmt.Sprintf("%s: shard disappeared after the plan (inputs must not change during a job)", name))
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if got := obj.Info(); got.Size != info.Size || (info.ETag != "" && got.ETag != info.ETag) {
		obj.Close()
		return nil, job.Invalid(fmt.Sprintf("%s: shard changed after the plan (size %d, ETag %q; planned %d, %q)",
			name, got.Size, got.ETag, info.Size, info.ETag))
	}
	return obj, nil
}
