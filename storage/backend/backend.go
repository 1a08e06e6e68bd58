// Package backend opens the storage.Store that a URI names.
//
// It is the one place that knows every backend, so that storage itself stays
// free of cloud SDKs and callers need only a URI.
package backend

import (
	"context"
	"fmt"

	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/file"
	"github.com/hardneg/hardneg/storage/s3"
)

// Open parses uri and returns a store whose keys are relative to the URI's
// prefix, with the parsed location.
func Open(ctx context.Context, uri string) (storage.Store, storage.Location, error) {
	loc, err := storage.ParseURI(uri)
	if err != nil {
		return nil, storage.Location{}, err
	}
	var s storage.Store
	switch loc.Scheme {
	case "s3":
		s, err = s3.New(ctx, loc.Bucket, s3.Options{})
	case "file":
		s, err = file.New(loc.Root)
	default:
		err = fmt.Errorf("open %s: no backend for scheme %q", uri, loc.Scheme)
	}
	if err != nil {
		return nil, storage.Location{}, err
	}
	return storage.WithPrefix(s, loc.Prefix), loc, nil
}
