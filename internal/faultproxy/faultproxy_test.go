package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// backend is an object store in miniature: PUT stores a body, GET returns it,
// and every request is counted with the Host it carried.
type backend struct {
	mu      sync.Mutex
	objects map[string][]byte
	hosts   []string
	hits    atomic.Int64
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hosts = append(b.hosts, r.Host)
	switch r.Method {
	case http.MethodPut:
		data, _ := io.ReadAll(r.Body)
		b.objects[r.URL.Path] = data
	case http.MethodGet:
		data, ok := b.objects[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
	}
}

// object returns the body stored at path (nil: none). The proxy may answer
// its client before the backend's handler has returned, so it reads under
// the lock.
func (b *backend) object(path string) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.objects[path]
}

// setup starts a backend holding /obj (1,000 bytes) and a proxy to it.
func setup(t *testing.T, cfg Config) (*backend, *Server) {
	t.Helper()
	b := &backend{objects: map[string][]byte{"/obj": bytes.Repeat([]byte("0123456789"), 100), "/tiny": []byte("x")}}
	bs := httptest.NewServer(b)
	t.Cleanup(bs.Close)
	p, err := Start(bs.URL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return b, p
}

// client never retries and never reuses a connection, so each call is one
// request on its own connection.
var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func only(f Fault) Config {
	var c Config
	switch f {
	case Error500:
		c.Error500 = 1
	case SlowDown:
		c.SlowDown = 1
	case ResetBefore:
		c.ResetBefore = 1
	case ResetAfter:
		c.ResetAfter = 1
	case Truncate:
		c.Truncate = 1
	case Latency:
		c.Latency, c.Delay = 1, 50*time.Millisecond
	}
	return c
}

// TestEachFault checks what a client and the backend see of every fault.
func TestEachFault(t *testing.T) {
	tests := []struct {
		fault       Fault
		method      string
		path        string
		status      int    // 0: the request fails
		bodyErr     bool   // reading the body fails
		body        string // substring of the body
		backendHits int64
		counted     Fault
	}{
		{Error500, "GET", "/obj", 500, false, "<Code>InternalError</Code>", 0, Error500},
		{SlowDown, "GET", "/obj", 503, false, "<Code>SlowDown</Code>", 0, SlowDown},
		{ResetBefore, "PUT", "/new", 0, false, "", 0, ResetBefore},
		{ResetAfter, "PUT", "/new", 0, false, "", 1, ResetAfter},
		{Truncate, "GET", "/obj", 200, true, "", 1, Truncate},
		{Truncate, "GET", "/tiny", 0, false, "", 1, ResetAfter}, // too short to cut: reset instead
		{Truncate, "PUT", "/new", 200, false, "", 1, None},      // only GETs are cut
		{Latency, "GET", "/obj", 200, false, "0123456789", 1, Latency},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String()+tt.path, func(t *testing.T) {
			b, p := setup(t, only(tt.fault))
			req, _ := http.NewRequest(tt.method, p.URL+tt.path, strings.NewReader("payload"))
			start := time.Now()
			resp, err := client.Do(req)
			took := time.Since(start)
			if tt.status == 0 {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded with %s, want a broken connection", resp.Status)
				}
			} else {
				if err != nil {
					t.Fatalf("request failed: %v", err)
				}
				data, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.status {
					t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
				}
				if tt.bodyErr != (rerr != nil) {
					t.Errorf("body read error %v, want an error: %v", rerr, tt.bodyErr)
				}
				if tt.bodyErr && (len(data) == 0 || int64(len(data)) >= resp.ContentLength) {
					t.Errorf("read %d of %d bytes, want a body cut short", len(data), resp.ContentLength)
				}
				if !strings.Contains(string(data), tt.body) {
					t.Errorf("body %q does not contain %q", data, tt.body)
				}
			}
			if got := b.hits.Load(); got != tt.backendHits {
				t.Errorf("backend saw %d requests, want %d", got, tt.backendHits)
			}
			if tt.fault == ResetAfter {
				if got := string(b.object("/new")); got != "payload" {
					t.Errorf("backend stored %q: the work before the reset was not done", got)
				}
			}
			if tt.fault == Latency && took < 50*time.Millisecond {
				t.Errorf("answered after %s, want at least the 50ms delay", took)
			}
			c := p.Counts()
			wantFaulted := int64(1)
			if tt.counted == None {
				wantFaulted = 0
			}
			if c.Requests != 1 || c.Faults[tt.counted] != 1 || c.Faulted() != wantFaulted {
				t.Errorf("counts %v, want 1 request counted as %s", c, tt.counted)
			}
		})
	}
}

// TestForwardsHostAndBody checks that an untouched request reaches the
// backend as sent, Host header included (SigV4 signs it).
func TestForwardsHostAndBody(t *testing.T) {
	b, p := setup(t, Config{})
	req, _ := http.NewRequest("PUT", p.URL+"/k", strings.NewReader("hello"))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = client.Get(p.URL + "/k")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(data) != "hello" {
		t.Errorf("GET through the proxy = %q, want hello", data)
	}
	want := strings.TrimPrefix(p.URL, "http://")
	b.mu.Lock()
	hosts := slices.Clone(b.hosts)
	b.mu.Unlock()
	for _, h := range hosts {
		if h != want {
			t.Errorf("backend saw Host %q, want the proxy's %q", h, want)
		}
	}
	if c := p.Counts(); c.Requests != 2 || c.Faulted() != 0 {
		t.Errorf("counts %v, want 2 requests and no fault", c)
	}
}

// TestShares sends many distinct requests and checks that each fault takes
// about its share.
func TestShares(t *testing.T) {
	cfg := Even(7, 0.6)
	_, p := setup(t, cfg)
	const n = 3000
	for i := range n {
		p.requests.Add(1)
		p.count(p.draw(httptest.NewRequest("GET", fmt.Sprintf("/obj?i=%d", i), nil)))
	}
	c := p.Counts()
	per := cfg.Total(1) / float64(numFaults-1)
	for f := Error500; f < numFaults; f++ {
		want := per * n
		// Five standard deviations of a binomial count: a seeded test that
		// fails only if the draw is biased.
		if tol := 5 * math.Sqrt(want*(1-per)); math.Abs(float64(c.Faults[f])-want) > tol {
			t.Errorf("%s: %d of %d requests, want %.0f ± %.0f", f, c.Faults[f], n, want, tol)
		}
	}
}

// TestDrawIsSeededNotOrdered checks that the fault of a request depends on the
// seed and the request, not on the order requests arrive in, and that a
// repeated request (a retry) gets a fresh draw.
func TestDrawIsSeededNotOrdered(t *testing.T) {
	draws := func(seed uint64, order []int) map[string]Fault {
		p, err := New("http://backend", Even(seed, 0.5))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]Fault{}
		for _, i := range order {
			for try := range 3 {
				got[fmt.Sprintf("%d/%d", i, try)] = p.draw(httptest.NewRequest("GET", fmt.Sprintf("/k%d", i), nil))
			}
		}
		return got
	}
	fwd, rev := make([]int, 200), make([]int, 200)
	for i := range fwd {
		fwd[i], rev[len(rev)-1-i] = i, i
	}
	a, b, other := draws(1, fwd), draws(1, rev), draws(2, fwd)
	sameSeed, otherSeed, retryDiffers := 0, 0, 0
	for k, f := range a {
		if b[k] == f {
			sameSeed++
		}
		if other[k] == f {
			otherSeed++
		}
	}
	for i := range 200 {
		if a[fmt.Sprintf("%d/0", i)] != a[fmt.Sprintf("%d/1", i)] {
			retryDiffers++
		}
	}
	if sameSeed != len(a) {
		t.Errorf("same seed, other order: %d of %d draws agree, want all", sameSeed, len(a))
	}
	if otherSeed == len(a) {
		t.Error("another seed gave the very same faults")
	}
	if retryDiffers == 0 {
		t.Error("a repeated request always met the fault of its first try")
	}
}

func TestSetEnabled(t *testing.T) {
	_, p := setup(t, only(Error500))
	p.SetEnabled(false)
	resp, err := client.Get(p.URL + "/obj")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || p.Counts().Faulted() != 0 {
		t.Errorf("disabled proxy answered %s with counts %v, want a plain 200", resp.Status, p.Counts())
	}
}

func TestBadConfig(t *testing.T) {
	for _, tt := range []struct {
		target string
		cfg    Config
	}{
		{"not a url", Config{}},
		{"http://b", Config{Error500: -0.1}},
		{"http://b", Config{Error500: 0.6, SlowDown: 0.6}},
	} {
		if _, err := New(tt.target, tt.cfg); err == nil {
			t.Errorf("New(%q, %+v) accepted", tt.target, tt.cfg)
		}
	}
}

// TestRetriedCountsRepeatsOfFailedRequests checks that a request sent again
// after it was failed counts as a retry, and that nothing else does.
func TestRetriedCountsRepeatsOfFailedRequests(t *testing.T) {
	_, p := setup(t, only(Error500))
	get := func(path string) {
		resp, err := client.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	get("/obj") // failed
	get("/obj") // a retry, failed too
	get("/other")
	p.SetEnabled(false)
	get("/obj") // a retry that gets through
	get("/obj") // not a retry: the last one was not failed
	if c := p.Counts(); c.Retried != 2 || c.Failed() != 3 {
		t.Errorf("counts %v, want 2 retries of 3 failed requests", c)
	}
}
