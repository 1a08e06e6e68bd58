package storage

import (
	"context"
	"io"
	"strings"
)

// WithPrefix returns a view of s in which every key is relative to prefix, so
// that code working under an input or output prefix never handles the prefix
// itself. prefix is "" or ends in "/".
func WithPrefix(s Store, prefix string) Store {
	if prefix == "" {
		return s
	}
	return &prefixed{s: s, prefix: prefix}
}

type prefixed struct {
	s      Store
	prefix string
}

func (p *prefixed) List(ctx context.Context, prefix string) ([]ObjectInfo, error) {
	infos, err := p.s.List(ctx, p.prefix+prefix)
	for i := range infos {
		infos[i].Key = strings.TrimPrefix(infos[i].Key, p.prefix)
	}
	return infos, err
}

func (p *prefixed) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	info, err := p.s.Stat(ctx, p.prefix+key)
	info.Key = key
	return info, err
}

func (p *prefixed) Open(ctx context.Context, key string) (Object, error) {
	obj, err := p.s.Open(ctx, p.prefix+key)
	if err != nil {
		return nil, err
	}
	return prefixedObject{Object: obj, key: key}, nil
}

type prefixedObject struct {
	Object
	key string
}

func (o prefixedObject) Info() ObjectInfo {
	info := o.Object.Info()
	info.Key = o.key
	return info
}

func (p *prefixed) Put(ctx context.Context, key string, r io.Reader) error {
	return p.s.Put(ctx, p.prefix+key, r)
}

func (p *prefixed) Delete(ctx context.Context, key string) error {
	return p.s.Delete(ctx, p.prefix+key)
}
