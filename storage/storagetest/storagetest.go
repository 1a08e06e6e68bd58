// Package storagetest is the conformance suite that every storage.Store backend
// passes: one set of promises, checked the same way against a local folder and
// a real S3 server.
package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/hardneg/hardneg/storage"
)

// Options tunes the suite for a backend.
type Options struct {
	// LargeSize is the size of the large round trip; 0 means 64 MiB + 1 byte, which
	// crosses multipart and parallel-read boundaries.
	LargeSize int
	// ManyKeys is how many keys the listing test writes; 0 means 1,001, one past
	// an S3 listing page.
	ManyKeys int
}

// Run runs the suite against s. Every subtest works under its own key prefix, so
// the store may be shared with other data.
func Run(t *testing.T, s storage.Store, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 64<<20 + 1
	}
	if opts.ManyKeys == 0 {
		opts.ManyKeys = 1001
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store, opts Options)
	}{
		{"PutStatRead", testPutStatRead},
		{"RangedReads", testRangedReads},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"ListOrderAndPrefix", testListOrderAndPrefix},
		{"ListPagination", testListPagination},
		{"LargeRoundTrip", testLargeRoundTrip},
		{"Cancellation", testCancellation},
		{"WithPrefix", testWithPrefix},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, storage.WithPrefix(s, "conformance/"+tt.name+"/"), opts)
		})
	}
}

func put(t *testing.T, s storage.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func testPutStatRead(t *testing.T, s storage.Store, _ Options) {
	ctx := context.Background()
	data := []byte("hello, hard negatives")
	put(t, s, "a/b.parquet", data)
	info, err := s.Stat(ctx, "a/b.parquet")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if info.Key != "a/b.parquet" || info.Size != int64(len(data)) || info.ETag == "" {
		t.Errorf("Stat = %+v, want key a/b.parquet, size %d, an ETag", info, len(data))
	}
	got, err := storage.ReadAll(ctx, s, "a/b.parquet")
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("ReadAll = %q, %v; want %q", got, err, data)
	}
	put(t, s, "empty", nil)
	if info, err := s.Stat(ctx, "empty"); err != nil || info.Size != 0 {
		t.Errorf("Stat(empty) = %+v, %v; want size 0", info, err)
	}
	// Bodies of every kind: a backend may send those in memory another way.
	for name, body := range map[string]io.Reader{
		"buffer": bytes.NewBufferString("from a buffer"),
		"string": strings.NewReader("from a string"),
		"stream": io.MultiReader(strings.NewReader("from "), strings.NewReader("a stream")),
	} {
		if err := s.Put(ctx, name, body); err != nil {
			t.Fatalf("Put(%s): %v", name, err)
		}
		got, err := storage.ReadAll(ctx, s, name)
		if want := "from a " + name; err != nil || string(got) != want {
			t.Errorf("ReadAll(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
}

func testRangedReads(t *testing.T, s storage.Store, _ Options) {
	ctx := context.Background()
	data := make([]byte, 10000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	put(t, s, "obj", data)
	obj, err := s.Open(ctx, "obj")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer obj.Close()
	if obj.Info().Size != int64(len(data)) {
		t.Errorf("Info().Size = %d, want %d", obj.Info().Size, len(data))
	}
	tests := []struct {
		off, n  int
		wantN   int
		wantEOF bool
	}{
		{0, 10, 10, false},
		{5000, 1234, 1234, false},
		{9990, 10, 10, false},
		{9995, 10, 5, true},
		{10000, 1, 0, true},
		{0, 10000, 10000, false},
	}
	for _, tt := range tests {
		buf := make([]byte, tt.n)
		n, err := obj.ReadAt(buf, int64(tt.off))
		if n != tt.wantN || (errors.Is(err, io.EOF) != tt.wantEOF) || (err != nil && !errors.Is(err, io.EOF)) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, EOF %v", tt.n, tt.off, n, err, tt.wantN, tt.wantEOF)
			continue
		}
		if !bytes.Equal(buf[:n], data[tt.off:tt.off+n]) {
			t.Errorf("ReadAt(%d bytes at %d): wrong bytes", tt.n, tt.off)
		}
	}
}

func testOverwrite(t *testing.T, s storage.Store, _ Options) {
	ctx := context.Background()
	put(t, s, "k", []byte("first version"))
	first, _ := s.Stat(ctx, "k")
	put(t, s, "k", []byte("second, longer version"))
	second, err := s.Stat(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	got, err := storage.ReadAll(ctx, s, "k")
	if err != nil || string(got) != "second, longer version" {
		t.Errorf("after overwrite read %q, %v", got, err)
	}
	if first.ETag == second.ETag {
		t.Errorf("ETag did not change on overwrite: %q", first.ETag)
	}
	if list, _ := s.List(ctx, ""); len(list) != 1 {
		t.Errorf("after overwrite List = %v, want one object", list)
	}
}

func testNotFound(t *testing.T, s storage.Store, _ Options) {
	ctx := context.Background()
	if _, err := s.Stat(ctx, "missing"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat(missing) error = %v, want ErrNotExist", err)
	}
	if _, err := s.Open(ctx, "missing"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Open(missing) error = %v, want ErrNotExist", err)
	}
	if _, err := storage.ReadAll(ctx, s, "missing"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("ReadAll(missing) error = %v, want ErrNotExist", err)
	}
	if err := s.Delete(ctx, "missing"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	list, err := s.List(ctx, "nothing-here/")
	if err != nil || len(list) != 0 {
		t.Errorf("List(empty prefix) = %v, %v; want none", list, err)
	}
	put(t, s, "gone", []byte("x"))
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "gone"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("Stat after Delete error = %v, want ErrNotExist", err)
	}
}

func testListOrderAndPrefix(t *testing.T, s storage.Store, _ Options) {
	ctx := context.Background()
	keys := []string{"d/b.parquet", "d/a.parquet", "d/sub/c.parquet", "d.txt", "dd/x", "d/a.parquet.bak"}
	for _, k := range keys {
		put(t, s, k, []byte(k))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"d/", []string{"d/a.parquet", "d/a.parquet.bak", "d/b.parquet", "d/sub/c.parquet"}},
		{"d/a", []string{"d/a.parquet", "d/a.parquet.bak"}},
		{"d", []string{"d.txt", "d/a.parquet", "d/a.parquet.bak", "d/b.parquet", "d/sub/c.parquet", "dd/x"}},
		{"d/sub/", []string{"d/sub/c.parquet"}},
	}
	for _, tt := range tests {
		list, err := s.List(ctx, tt.prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", tt.prefix, err)
		}
		var got []string
		for _, o := range list {
			got = append(got, o.Key)
			if o.Size != int64(len(o.Key)) || o.ETag == "" {
				t.Errorf("List(%q): %+v: want size %d and an ETag", tt.prefix, o, len(o.Key))
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("List(%q) = %v, want %v", tt.prefix, got, tt.want)
		}
	}
}

func testListPagination(t *testing.T, s storage.Store, opts Options) {
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, opts.ManyKeys)
	for i := range opts.ManyKeys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			key := fmt.Sprintf("many/%05d", i)
			if err := s.Put(ctx, key, strings.NewReader(key)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Put: %v", err)
	}
	list, err := s.List(ctx, "many/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != opts.ManyKeys {
		t.Fatalf("List returned %d keys, want %d", len(list), opts.ManyKeys)
	}
	for i, o := range list {
		if want := fmt.Sprintf("many/%05d", i); o.Key != want {
			t.Fatalf("List[%d] = %q, want %q", i, o.Key, want)
		}
	}
}

func testLargeRoundTrip(t *testing.T, s storage.Store, opts Options) {
	ctx := context.Background()
	data := make([]byte, opts.LargeSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(data); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	want := sha256.Sum256(data)
	put(t, s, "large.bin", data)
	got, err := storage.ReadAll(ctx, s, "large.bin")
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if len(got) != len(data) || sha256.Sum256(got) != want {
		t.Fatalf("large round trip: got %d bytes, content differs", len(got))
	}
	obj, err := s.Open(ctx, "large.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	tail := make([]byte, 3<<20)
	off := int64(len(data) - len(tail))
	if n, err := obj.ReadAt(tail, off); n != len(tail) || (err != nil && !errors.Is(err, io.EOF)) {
		t.Fatalf("ReadAt(tail) = %d, %v", n, err)
	}
	if !bytes.Equal(tail, data[off:]) {
		t.Errorf("ReadAt(tail): wrong bytes")
	}
}

func testCancellation(t *testing.T, s storage.Store, _ Options) {
	put(t, s, "obj", []byte("some bytes"))
	ctx, cancel := context.WithCancel(context.Background())
	obj, err := s.Open(ctx, "obj")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	cancel()
	if _, err := obj.ReadAt(make([]byte, 4), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("ReadAt after cancel = %v, want context.Canceled", err)
	}
	if err := s.Put(ctx, "never", strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context = %v, want context.Canceled", err)
	}
	if _, err := s.Stat(context.Background(), "never"); !errors.Is(err, storage.ErrNotExist) {
		t.Errorf("a cancelled Put left an object: Stat = %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List with cancelled context = %v, want context.Canceled", err)
	}
}

func testWithPrefix(t *testing.T, s storage.Store, _ Options) {
	ctx := context.Background()
	sub := storage.WithPrefix(s, "inner/")
	put(t, sub, "x.parquet", []byte("x"))
	if _, err := s.Stat(ctx, "inner/x.parquet"); err != nil {
		t.Errorf("WithPrefix wrote elsewhere: %v", err)
	}
	list, err := sub.List(ctx, "")
	if err != nil || len(list) != 1 || list[0].Key != "x.parquet" {
		t.Errorf("WithPrefix List = %v, %v; want [x.parquet]", list, err)
	}
	obj, err := sub.Open(ctx, "x.parquet")
	if err != nil || obj.Info().Key != "x.parquet" {
		t.Fatalf("WithPrefix Open = %v; key %q", err, obj.Info().Key)
	}
	obj.Close()
}
