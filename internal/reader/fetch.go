package reader

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/hardneg/hardneg/dataset"
	"github.com/hardneg/hardneg/internal/inputs"
	"github.com/hardneg/hardneg/internal/job"
	"github.com/hardneg/hardneg/internal/pipeline"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/workflows"
)

// Fetch reads the planned shard name under uri whole into buf, which holds
// exactly its size. One ReadAt: the store splits a large read into ranged
// requests it sends in parallel (storage/s3).
func Fetch(ctx context.Context, src inputs.Source, uri string, info job.Shard, name string, buf []byte) error {
	st, err := src.Store(ctx, uri)
	if err != nil {
		return err
	}
	obj, err := inputs.OpenPlanned(ctx, st, info, name)
	if err != nil {
		return err
	}
	defer obj.Close()
	if n, err := src.Counted(obj).ReadAt(buf, 0); n < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("fetch %s: %d of %d bytes: %w", name, n, len(buf), err)
	}
	return nil
}

// open opens a shard a tile reads: from its bytes in raw when they are
// there, from the store otherwise.
func open(ctx context.Context, src inputs.Source, uri string, info job.Shard, name string, spec workflows.Spec, raw pipeline.FetchedSet) (*dataset.Shard, func(), error) {
	if b := raw.Bytes(name); b != nil {
		obj := bytesObject{bytes.NewReader(b), storage.ObjectInfo{Key: info.Key, Size: info.Size, ETag: info.ETag}}
		return inputs.OpenFrom(obj, obj, info, name, spec)
	}
	st, err := src.Store(ctx, uri)
	if err != nil {
		return nil, nil, err
	}
	return src.Open(ctx, st, info, name, spec)
}

// bytesObject serves a fetched shard's bytes as a storage.Object.
type bytesObject struct {
	*bytes.Reader
	info storage.ObjectInfo
}

func (o bytesObject) Close() error             { return nil }
func (o bytesObject) Info() storage.ObjectInfo { return o.info }
