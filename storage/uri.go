package storage

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Location is a parsed storage URI: which backend, which bucket or root folder,
// and the key prefix inside it.
type Location struct {
	Scheme string // "s3" or "file"
	Bucket string // s3 only
	Root   string // file only: absolute folder path
	Prefix string // key prefix inside the bucket or root, "" or ending in "/"
}

// ParseURI parses s3://bucket/prefix/, file:///abs/dir/ or a plain local path.
// A prefix always names a folder-like place, so a trailing slash is added when
// missing: "s3://b/epoch-1" and "s3://b/epoch-1/" mean the same thing. For file
// locations the whole path becomes Root and Prefix is empty, so keys never climb
// above the folder the user named.
func ParseURI(uri string) (Location, error) {
	if uri == "" {
		return Location{}, fmt.Errorf("parse storage URI: empty")
	}
	if !strings.Contains(uri, "://") {
		return fileLocation(uri)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return Location{}, fmt.Errorf("parse storage URI %q: %w", uri, err)
	}
	switch u.Scheme {
	case "s3":
		if u.Host == "" {
			return Location{}, fmt.Errorf("parse storage URI %q: no bucket", uri)
		}
		return Location{Scheme: "s3", Bucket: u.Host, Prefix: dirPrefix(strings.TrimPrefix(u.Path, "/"))}, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("parse storage URI %q: file URIs take no host (use file:///abs/dir/)", uri)
		}
		return fileLocation(u.Path)
	default:
		return Location{}, fmt.Errorf("parse storage URI %q: unsupported scheme %q (want s3:// or file://)", uri, u.Scheme)
	}
}

func fileLocation(path string) (Location, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Location{}, fmt.Errorf("parse storage path %q: %w", path, err)
	}
	return Location{Scheme: "file", Root: abs}, nil
}

func dirPrefix(p string) string {
	if p == "" || strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// String formats the location back as a URI.
func (l Location) String() string {
	if l.Scheme == "s3" {
		return "s3://" + l.Bucket + "/" + l.Prefix
	}
	return "file://" + filepath.ToSlash(l.Root) + "/" + l.Prefix
}

// Contains reports whether other lies inside l (same store, and other's prefix
// starts with l's). The job uses it to refuse an output prefix inside an input.
func (l Location) Contains(other Location) bool {
	if l.Scheme != other.Scheme || l.Bucket != other.Bucket {
		return false
	}
	if l.Scheme == "file" {
		a, b := l.Root+string(filepath.Separator), other.Root+string(filepath.Separator)
		return strings.HasPrefix(b+other.Prefix, a+l.Prefix)
	}
	return strings.HasPrefix(other.Prefix, l.Prefix)
}
