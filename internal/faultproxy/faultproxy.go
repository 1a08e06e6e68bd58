// Package faultproxy is a reverse proxy for tests that breaks a seeded share
// of the requests it forwards, the way an object store misbehaves under load:
// it answers 500 InternalError or 503 SlowDown, resets the connection (before
// or after the backend has done the work), cuts a response body short, or adds
// latency. Put it in front of an S3 gateway (point AWS_ENDPOINT_URL_S3 at it)
// and the client, its retries and the job above it must ride through.
//
// Which requests fail is a function of the seed and the request itself
// (method, path and query, Range header, and how many times that same request
// was seen before), not of arrival order, so concurrent clients meet the same
// faults run after run, and a retried request gets a fresh draw.
//
// The Host header is forwarded unchanged, so AWS Signature V4 signatures,
// which cover it, still verify at the backend.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does to one request.
type Fault int

// The faults, in the order Config lists their shares.
const (
	None        Fault = iota // forwarded untouched
	Error500                 // 500 InternalError; the backend never sees the request
	SlowDown                 // 503 SlowDown; the backend never sees the request
	ResetBefore              // connection reset before forwarding
	ResetAfter               // forwarded, the response is read, then the connection is reset
	Truncate                 // forwarded; half the response body, then the connection closes
	Latency                  // forwarded after Config.Delay
	numFaults
)

var faultNames = [numFaults]string{"none", "error500", "slowdown503", "reset_before", "reset_after", "truncate", "latency"}

// String names the fault as Counts.String and metrics labels do.
func (f Fault) String() string {
	if f < 0 || f >= numFaults {
		return fmt.Sprintf("Fault(%d)", int(f))
	}
	return faultNames[f]
}

// Config sets the share of requests that meet each fault. Shares are
// fractions in [0, 1] that sum to at most 1.
type Config struct {
	Seed        uint64
	Error500    float64
	SlowDown    float64
	ResetBefore float64
	ResetAfter  float64
	// Truncate is a share of the GET requests only, the ones that carry a
	// body worth cutting (objects, listings). A GET drawn for it whose
	// response is shorter than 2 bytes is reset after forwarding instead.
	Truncate float64
	Latency  float64
	// Delay is the latency added (default 200 ms).
	Delay time.Duration
}

func (c Config) shares() [numFaults]float64 {
	return [numFaults]float64{0, c.Error500, c.SlowDown, c.ResetBefore, c.ResetAfter, c.Truncate, c.Latency}
}

// Total is the share of requests faulted when a share getShare of them are
// GETs.
func (c Config) Total(getShare float64) float64 {
	t := 0.0
	for f, s := range c.shares() {
		if Fault(f) == Truncate {
			s *= getShare
		}
		t += s
	}
	return t
}

// Even returns a Config that spreads share evenly over every fault: a GET
// meets a fault with probability share, any other request (which has no body
// to cut) with probability share × 5/6.
func Even(seed uint64, share float64) Config {
	s := share / float64(numFaults-1)
	return Config{Seed: seed, Error500: s, SlowDown: s, ResetBefore: s, ResetAfter: s, Truncate: s, Latency: s}
}

// Counts is what the proxy did so far.
type Counts struct {
	Requests int64
	Gets     int64            // of Requests
	Faults   [numFaults]int64 // by Fault; Faults[None] counts untouched requests
	// Retried counts the failed requests (every fault but Latency) that the
	// client sent again: the retries, as the store sees them.
	Retried int64
}

// Faulted is the number of requests that met a fault.
func (c Counts) Faulted() int64 { return c.Requests - c.Faults[None] }

// Failed is the number of requests that met a fault that fails them: every
// fault but Latency.
func (c Counts) Failed() int64 { return c.Faulted() - c.Faults[Latency] }

// String lists the counts, e.g. "312 requests, 31 faulted: error500=5 ...".
func (c Counts) String() string {
	s := fmt.Sprintf("%d requests (%d GETs), %d faulted (%.1f%%):", c.Requests, c.Gets, c.Faulted(),
		100*float64(c.Faulted())/float64(max(c.Requests, 1)))
	for f := Error500; f < numFaults; f++ {
		s += fmt.Sprintf(" %s=%d", f, c.Faults[f])
	}
	return s + fmt.Sprintf("; %d of %d failed requests sent again", c.Retried, c.Failed())
}

// Proxy is an http.Handler that forwards to one backend, injecting faults.
type Proxy struct {
	cfg     Config
	rp      *httputil.ReverseProxy
	enabled atomic.Bool

	mu      sync.Mutex
	seen    map[string]uint64 // times each request identity was seen
	failed  map[string]bool   // identities whose last request was failed
	retried int64

	requests atomic.Int64
	gets     atomic.Int64
	counts   [numFaults]atomic.Int64
}

// New returns a proxy to the backend at target (e.g. http://127.0.0.1:7070),
// with faults enabled.
func New(target string, cfg Config) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("fault proxy: backend %q is not an absolute URL", target)
	}
	sum := 0.0
	for f, s := range cfg.shares() {
		if s < 0 || s > 1 {
			return nil, fmt.Errorf("fault proxy: share of %s is %g, want a fraction in [0, 1]", Fault(f), s)
		}
		sum += s
	}
	if sum > 1+1e-9 {
		return nil, fmt.Errorf("fault proxy: shares sum to %g, more than 1", sum)
	}
	if cfg.Delay <= 0 {
		cfg.Delay = 200 * time.Millisecond
	}
	p := &Proxy{cfg: cfg, seen: map[string]uint64{}, failed: map[string]bool{}}
	p.rp = &httputil.ReverseProxy{
		// Only the URL is pointed at the backend: ProxyRequest.SetURL would
		// set Host to the backend's too, and SigV4 signs the Host the client
		// used, so the incoming one (Out's copy of In's) is kept.
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = u.Scheme, u.Host
		},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		// Flush every write, so that a cut body reaches the client as headers
		// and a first half rather than as nothing.
		FlushInterval: -1,
		// An aborted body copy is the point of Truncate, not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.enabled.Store(true)
	return p, nil
}

// SetEnabled turns fault injection on or off; off, the proxy only forwards.
func (p *Proxy) SetEnabled(on bool) { p.enabled.Store(on) }

// Counts returns what the proxy did so far.
func (p *Proxy) Counts() Counts {
	c := Counts{Requests: p.requests.Load(), Gets: p.gets.Load()}
	p.mu.Lock()
	c.Retried = p.retried
	p.mu.Unlock()
	for f := range c.Faults {
		c.Faults[f] = p.counts[f].Load()
	}
	return c
}

type faultKey struct{}

// ServeHTTP forwards r, or breaks it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	if r.Method == http.MethodGet {
		p.gets.Add(1)
	}
	f := p.draw(r)
	switch f {
	case Error500:
		p.count(f)
		writeS3Error(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	case SlowDown:
		p.count(f)
		writeS3Error(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
		return
	case ResetBefore:
		p.count(f)
		drain(r)
		reset(w)
		return
	case Latency:
		p.count(f)
		select {
		case <-time.After(p.cfg.Delay):
		case <-r.Context().Done():
			return
		}
	case None:
		p.count(f)
	}
	// ResetAfter and Truncate act on the response; they are counted there,
	// since a short response turns a Truncate into a ResetAfter.
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), faultKey{}, f)))
}

func (p *Proxy) count(f Fault) { p.counts[f].Add(1) }

// draw picks the fault of r from the seed, r's identity and how often that
// identity was seen before, and counts r as a retry when the last request of
// the same identity was failed.
func (p *Proxy) draw(r *http.Request) Fault {
	id := r.Method + " " + r.URL.RequestURI() + " " + r.Header.Get("Range")
	f := None
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.seen[id]
	p.seen[id] = n + 1
	if p.failed[id] {
		p.retried++
		delete(p.failed, id)
	}
	if p.enabled.Load() {
		f = p.pick(id, n, r.Method)
	}
	if f != None && f != Latency {
		p.failed[id] = true
	}
	return f
}

// pick draws the fault of the n-th request (from 0) of identity id.
func (p *Proxy) pick(id string, n uint64, method string) Fault {
	h := fnv.New64a()
	io.WriteString(h, id)
	x := splitmix64(h.Sum64() ^ splitmix64(p.cfg.Seed) ^ splitmix64(n+0x9e3779b97f4a7c15))
	u := float64(x>>11) / (1 << 53)
	cum := 0.0
	for f, s := range p.cfg.shares() {
		if Fault(f) == Truncate && method != http.MethodGet {
			continue
		}
		if cum += s; u < cum && Fault(f) != None {
			return Fault(f)
		}
	}
	return None
}

// splitmix64 is SplitMix64's output function: a cheap, well-mixed 64-bit hash.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

var errResetAfter = errors.New("fault proxy: reset after the backend answered")

// modifyResponse applies the faults that need the backend's answer.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	f, _ := resp.Request.Context().Value(faultKey{}).(Fault)
	switch f {
	case ResetAfter:
	case Truncate:
		if resp.ContentLength >= 2 {
			p.count(Truncate)
			resp.Body = &shortBody{rc: resp.Body, left: resp.ContentLength / 2}
			return nil
		}
	default:
		return nil
	}
	// The backend has done the work (a PUT is stored, a DELETE done); the
	// client only loses the answer.
	p.count(ResetAfter)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return errResetAfter
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errResetAfter) {
		reset(w)
		return
	}
	if r.Context().Err() != nil {
		return // the client went away
	}
	writeS3Error(w, http.StatusBadGateway, "BadGateway", "fault proxy: "+err.Error())
}

// shortBody yields left bytes of rc, then fails, so that the reverse proxy
// aborts the response with the rest of the declared Content-Length unsent.
type shortBody struct {
	rc   io.ReadCloser
	left int64
}

var errCut = errors.New("fault proxy: body cut short")

func (b *shortBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errCut
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err == io.EOF {
		err = errCut
	}
	return n, err
}

func (b *shortBody) Close() error { return b.rc.Close() }

// reset closes the client's connection with a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // close sends RST instead of FIN
	}
	conn.Close()
}

// drain reads a request body, so that a reset is not mistaken by the client
// for a refused upload of a body it never sent.
func drain(r *http.Request) {
	if r.Body != nil {
		io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	}
}

func writeS3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId></Error>`, code, msg)
}

// Server is a Proxy listening on loopback.
type Server struct {
	*Proxy
	URL string // http://127.0.0.1:PORT
	srv *http.Server
	ln  net.Listener
}

// Start serves a new Proxy to target on 127.0.0.1 at a free port.
func Start(target string, cfg Config) (*Server, error) {
	p, err := New(target, cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: listen: %w", err)
	}
	s := &Server{Proxy: p, URL: "http://" + ln.Addr().String(), ln: ln,
		srv: &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}}
	go s.srv.Serve(ln)
	return s, nil
}

// Close stops the server and drops open connections.
func (s *Server) Close() error { return s.srv.Close() }
