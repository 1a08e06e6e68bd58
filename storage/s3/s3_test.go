package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/hardneg/hardneg/internal/devenv"
	"github.com/hardneg/hardneg/internal/faultproxy"
	"github.com/hardneg/hardneg/storage"
	"github.com/hardneg/hardneg/storage/storagetest"
)

// startGateway starts a real versitygw on loopback for the test and points the
// SDK's standard chain at it through the environment, as a user would.
func startGateway(t *testing.T) *devenv.S3 {
	t.Helper()
	var log bytes.Buffer
	gw, err := devenv.StartS3(context.Background(), filepath.Join(t.TempDir(), "s3"), 0, "hardnegtest", "hardneg-test-secret", &log)
	if err != nil {
		t.Fatalf("start versitygw: %v\n%s", err, log.String())
	}
	t.Cleanup(gw.Stop)
	t.Logf("versitygw started at %s (pid %d)", gw.Endpoint, gw.Server.Pid())
	for _, kv := range gw.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return gw
}

func newBucket(t *testing.T, name string) *Store {
	t.Helper()
	s, err := New(context.Background(), name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// throughProxy returns a store of bucket that reaches the gateway through a
// fault proxy with cfg, and the proxy; both close when the test ends.
func throughProxy(t *testing.T, gw *devenv.S3, bucket string, cfg faultproxy.Config) (*Store, *faultproxy.Server) {
	t.Helper()
	proxy, err := faultproxy.Start(gw.Endpoint, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s, err := New(context.Background(), bucket, Options{Endpoint: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	return s, proxy
}

func TestConformance(t *testing.T) {
	startGateway(t)
	storagetest.Run(t, newBucket(t, "conformance"), storagetest.Options{})
}

// TestFailuresClassified runs the classification table against versitygw's
// real answers: a bucket that does not exist, a wrong secret, an endpoint
// where nothing listens, and a store that throttles every request.
func TestFailuresClassified(t *testing.T) {
	gw := startGateway(t)
	newBucket(t, "there")
	ctx := context.Background()
	missing, err := New(ctx, "not-there", Options{})
	if err != nil {
		t.Fatal(err)
	}
	port, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	nobody, err := New(ctx, "there", Options{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port)})
	if err != nil {
		t.Fatal(err)
	}
	throttled, _ := throughProxy(t, gw, "there", faultproxy.Config{SlowDown: 1})
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	denied, err := New(ctx, "there", Options{})
	if err != nil {
		t.Fatal(err)
	}
	storagetest.RunFailures(t, []storagetest.Failure{
		// A HEAD of a missing bucket is a bare 404, which reads as a missing
		// object; a job lists its inputs and probes its output first.
		{Name: "no such bucket", Store: missing, Ops: []storagetest.Op{storagetest.OpList, storagetest.OpPut, storagetest.OpDelete},
			Want: storage.Classify(&smithy.GenericAPIError{Code: "NoSuchBucket"})},
		{Name: "wrong secret", Store: denied, Ops: storagetest.AllOps,
			Want: storage.Classify(storage.ErrPermission)},
		{Name: "nothing listens", Store: nobody, Ops: storagetest.AllOps,
			Want: storage.Verdict{Unreachable: true, Problem: "store does not answer", Check: "check that the endpoint is up"}},
		{Name: "throttled", Store: throttled, Ops: storagetest.AllOps,
			Want: storage.Verdict{Problem: "throttled"}},
	})
}

func TestOpenThroughURI(t *testing.T) {
	gw := startGateway(t)
	s := newBucket(t, "uri")
	ctx := context.Background()
	if err := s.Put(ctx, "epoch-1/corpus/a.parquet", strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	// The gateway keeps objects as plain files: the bytes really went to S3.
	if b, err := os.ReadFile(filepath.Join(gw.Dir, "uri", "epoch-1", "corpus", "a.parquet")); err != nil || string(b) != "abc" {
		t.Fatalf("object not on the gateway's disk: %q, %v", b, err)
	}
	list, err := s.List(ctx, "epoch-1/")
	if err != nil || len(list) != 1 {
		t.Fatalf("List = %v, %v", list, err)
	}
}

func TestWrongCredentialsAreNotRetriedForever(t *testing.T) {
	startGateway(t)
	newBucket(t, "creds")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
	s, err := New(context.Background(), "creds", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.List(context.Background(), "")
	if err == nil {
		t.Fatal("List with a wrong secret succeeded")
	}
	if strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("error leaks the secret: %v", err)
	}
	if errors.Is(err, storage.ErrNotExist) {
		t.Errorf("access denied reported as not-exist: %v", err)
	}
}

// TestBodyCutShortIsReadAgain reads through a proxy that cuts every GET body
// short: the read fails, but only after the GET was sent three times.
func TestBodyCutShortIsReadAgain(t *testing.T) {
	gw := startGateway(t)
	direct := newBucket(t, "cut")
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789"), 1000)
	if err := direct.Put(ctx, "k", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		truncate float64
		wantGets int64
		wantErr  bool
	}{{0, 1, false}, {1, 3, true}} {
		s, proxy := throughProxy(t, gw, "cut", faultproxy.Config{Truncate: tt.truncate})
		obj, err := s.Open(ctx, "k") // a HEAD: never cut
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 500)
		_, err = obj.ReadAt(p, 100)
		if (err != nil) != tt.wantErr || (err == nil && !bytes.Equal(p, data[100:600])) {
			t.Errorf("truncate %g: ReadAt: %v, want an error: %v", tt.truncate, err, tt.wantErr)
		}
		if got := proxy.Counts().Gets; got != tt.wantGets {
			t.Errorf("truncate %g: %d GETs, want %d", tt.truncate, got, tt.wantGets)
		}
	}
}

// TestWrongKeyIsErrPermission checks that every operation refused for a
// wrong secret key reports storage.ErrPermission, which callers do not retry.
func TestWrongKeyIsErrPermission(t *testing.T) {
	startGateway(t)
	good := newBucket(t, "denied")
	ctx := context.Background()
	if err := good.Put(ctx, "k", strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	s, err := New(ctx, "denied", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"list":   func() error { _, err := s.List(ctx, ""); return err },
		"stat":   func() error { _, err := s.Stat(ctx, "k"); return err },
		"open":   func() error { _, err := s.Open(ctx, "k"); return err },
		"put":    func() error { return s.Put(ctx, "k2", strings.NewReader("x")) },
		"delete": func() error { return s.Delete(ctx, "k") },
	} {
		if err := call(); !errors.Is(err, storage.ErrPermission) || errors.Is(err, storage.ErrNotExist) {
			t.Errorf("%s with a wrong key: %v, want storage.ErrPermission", name, err)
		}
	}
}

// TestRetriesCounted checks that Retries counts every request sent again: a
// HEAD answered 500 each time is sent MaxAttempts times by the SDK's retryer,
// and a GET whose body is always cut short three times by ReadAt.
func TestRetriesCounted(t *testing.T) {
	gw := startGateway(t)
	direct := newBucket(t, "retries")
	ctx := context.Background()
	if err := direct.Put(ctx, "k", bytes.NewReader(make([]byte, 1000))); err != nil {
		t.Fatal(err)
	}
	stat := func(s *Store) error {
		_, err := s.Stat(ctx, "k")
		return err
	}
	for _, tc := range []struct {
		name   string
		faults faultproxy.Config
		do     func(s *Store) error
	}{
		{"500 on every request", faultproxy.Config{Error500: 1}, stat},
		{"503 SlowDown", faultproxy.Config{SlowDown: 1}, stat},
		{"reset before", faultproxy.Config{ResetBefore: 1}, stat},
		{"reset after a put", faultproxy.Config{ResetAfter: 1}, func(s *Store) error {
			return s.Put(ctx, "p", bytes.NewReader([]byte("x")))
		}},
		{"every body cut", faultproxy.Config{Truncate: 1}, func(s *Store) error {
			obj, err := s.Open(ctx, "k")
			if err != nil {
				return err
			}
			_, err = obj.ReadAt(make([]byte, 500), 0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, proxy := throughProxy(t, gw, "retries", tc.faults)
			before := Retries()
			if err := tc.do(s); err == nil {
				t.Fatal("the request succeeded through a proxy that fails every one")
			}
			c := proxy.Counts()
			if got, want := Retries()-before, c.Retried; got != want || want < 2 {
				t.Errorf("Retries grew by %d; the proxy saw %d failed requests sent again (%v)", got, want, c)
			}
		})
	}
}
