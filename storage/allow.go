package storage

import (
	"fmt"
	"net/url"
	"strings"
)

// AllowList is the set of URI prefixes a worker may read and write under.
// Workers are shared by every client that can start a job, so without one a
// spec could have a worker copy what only the worker can read into a place
// its client can read (a confused deputy).
//
// A nil or empty AllowList allows everything.
type AllowList struct {
	prefixes []Location
}

// ParseAllowList parses comma-separated URI prefixes such as
// "s3://team-a-embeddings/,s3://team-a-negatives/". A prefix names a folder:
// "s3://b/emb" allows s3://b/emb/… but not s3://b/embeddings/…, and
// "s3://team-a/" does not allow s3://team-a-other/. Empty entries are skipped;
// an empty s gives an empty list, which allows everything. A prefix must be a
// clean URI itself (see AllowList.Check), so that what the operator wrote is
// what is compared.
func ParseAllowList(s string) (*AllowList, error) {
	l := &AllowList{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		loc, err := cleanLocation(p)
		if err != nil {
			return nil, fmt.Errorf("allowed prefix %q: %w", p, err)
		}
		l.prefixes = append(l.prefixes, loc)
	}
	return l, nil
}

// Unrestricted reports whether l allows every location.
func (l *AllowList) Unrestricted() bool { return l == nil || len(l.prefixes) == 0 }

// String lists the allowed prefixes, comma-separated, as Check compares them.
func (l *AllowList) String() string {
	if l.Unrestricted() {
		return "(any location)"
	}
	s := make([]string, len(l.prefixes))
	for i, p := range l.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// Check returns nil when uri lies under one of l's prefixes, and otherwise an
// error saying why not and which prefixes are allowed. The URI is compared as
// the backends will use it: its scheme and bucket exactly, its path as a
// folder. A URI with a ".." segment is refused outright (a local path would
// climb out of its folder; in S3 it is a different key that some gateways
// resolve anyway), and so is an S3 URI with an empty or "." segment ("//",
// "/./"), whose keys are not those of the folder it looks like. A local path
// may have "//" or "/./": the file backend cleans them, and so does Check.
func (l *AllowList) Check(uri string) error {
	if l.Unrestricted() {
		return nil
	}
	loc, err := cleanLocation(uri)
	if err != nil {
		return fmt.Errorf("%w; allowed prefixes: %s", err, l)
	}
	for _, p := range l.prefixes {
		if p.Contains(loc) {
			return nil
		}
	}
	return fmt.Errorf("not under a prefix this worker allows (allowed prefixes: %s)", l)
}

// cleanLocation parses uri with ParseURI after refusing the path segments
// that would make the location differ from what it looks like.
func cleanLocation(uri string) (Location, error) {
	path, s3, err := rawPath(uri)
	if err != nil {
		return Location{}, err
	}
	for i, seg := range strings.Split(path, "/") {
		switch {
		case seg == "..":
			return Location{}, fmt.Errorf("%q has a \"..\" segment", uri)
		case s3 && seg == ".":
			return Location{}, fmt.Errorf("%q has a \".\" segment", uri)
		case s3 && seg == "" && i > 0 && i < strings.Count(path, "/"):
			return Location{}, fmt.Errorf("%q has an empty segment (\"//\")", uri)
		}
	}
	return ParseURI(uri)
}

// rawPath returns the path of uri as the backend will see it (percent-
// decoded, as ParseURI decodes it), and whether uri is an S3 URI.
func rawPath(uri string) (path string, s3 bool, err error) {
	if !strings.Contains(uri, "://") {
		return uri, false, nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", false, fmt.Errorf("parse storage URI %q: %w", uri, err)
	}
	return u.Path, u.Scheme == "s3", nil
}
