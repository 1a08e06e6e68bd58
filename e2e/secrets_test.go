package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/hardneg/hardneg/internal/jobclient"
)

// tlsFront terminates TLS in front of the plaintext dev server, so that a
// worker can connect the way it does to Temporal Cloud: over TLS with an API
// key. (An API key makes the client use TLS, which the dev server does not
// speak.) It keeps the first bytes each client sent, to show what went over
// the wire.
type tlsFront struct {
	addr   string
	caFile string // PEM of the self-signed certificate, for TEMPORAL_TLS_CA
	ln     net.Listener

	mu   sync.Mutex
	sent []*bytes.Buffer // per connection: client → server, decrypted
}

const frontKeep = 1 << 20 // bytes kept per connection

func startTLSFront(t *testing.T, backend string) *tlsFront {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "hardneg e2e Temporal front"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	f := &tlsFront{caFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(f.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		NextProtos:   []string{"h2"}, // gRPC insists on ALPN h2
	}
	if f.ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg); err != nil {
		t.Fatal(err)
	}
	f.addr = f.ln.Addr().String()
	t.Cleanup(func() { f.ln.Close() })
	go f.serve(backend)
	return f
}

func (f *tlsFront) serve(backend string) {
	for {
		in, err := f.ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.Dial("tcp", backend)
			if err != nil {
				return
			}
			defer out.Close()
			kept := &bytes.Buffer{}
			f.mu.Lock()
			f.sent = append(f.sent, kept)
			f.mu.Unlock()
			go io.Copy(in, out)
			io.Copy(out, io.TeeReader(in, &capped{f: f, buf: kept}))
		}()
	}
}

// capped keeps the first frontKeep bytes written to it.
type capped struct {
	f   *tlsFront
	buf *bytes.Buffer
}

func (c *capped) Write(p []byte) (int, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if room := frontKeep - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// headerValues decodes the HTTP/2 request headers the clients sent and
// returns the values of the one named.
func (f *tlsFront) headerValues(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var vals []string
	for _, b := range f.sent {
		data := bytes.TrimPrefix(b.Bytes(), []byte(http2.ClientPreface))
		fr := http2.NewFramer(io.Discard, bytes.NewReader(data))
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		for {
			frame, err := fr.ReadFrame()
			if err != nil {
				break // the end of what was kept
			}
			if mh, ok := frame.(*http2.MetaHeadersFrame); ok {
				for _, hf := range mh.Fields {
					if hf.Name == name {
						vals = append(vals, hf.Value)
					}
				}
			}
		}
	}
	return vals
}

// TestSecretsStayOut runs jobs on a worker that reaches Temporal over TLS
// with an API key (through tlsFront) and S3 with the gateway's secret key,
// one job that succeeds and one that fails on bad input, and a job on a
// worker whose S3 secret key is wrong. Neither the API key nor either S3
// secret key may show in the workers' logs, their command lines, the jobs'
// errors or any workflow history; and the API key must really have been
// sent, as the authorization header of the worker's calls.
func TestSecretsStayOut(t *testing.T) {
	if testing.Short() {
		t.Skip("starts servers")
	}
	const apiKey = "hardneg-e2e-api-key-7f3a9c1e5b"
	const wrongSecret = "hardneg-e2e-wrong-secret-2d8e"
	secrets := map[string]string{"Temporal API key": apiKey, "S3 secret key": env.s3.SecretKey, "wrong S3 secret key": wrongSecret}

	front := startTLSFront(t, env.temporal.Addr)
	w := startWorkerWith(t, workerConfig{queue: "e2e-secrets", address: front.addr,
		env: []string{"TEMPORAL_API_KEY=" + apiKey, "TEMPORAL_TLS_CA=" + front.caFile}})
	bad := startWorkerWith(t, workerConfig{queue: "e2e-secrets-denied",
		env: []string{"AWS_SECRET_ACCESS_KEY=" + wrongSecret}})
	c := dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	putDataset(t, "secrets/in/", badData, 0)
	f := newBadFiles(t)
	f.files["corpus/part-00001.parquet"] = []byte("not parquet")
	putFiles(t, "secrets/bad-in/", f.files)
	in, badIn := "s3://"+bucket+"/secrets/in/", "s3://"+bucket+"/secrets/bad-in/"
	jobs := []struct {
		run, in, queue string
		fail           bool
	}{
		{"e2e-secrets-ok", in, "e2e-secrets", false},
		{"e2e-secrets-bad-input", badIn, "e2e-secrets", true},
		{"e2e-secrets-denied", in, "e2e-secrets-denied", true},
	}
	haystacks := map[string]string{}
	for _, j := range jobs {
		sp := spec(j.run, j.in, "s3://"+bucket+"/secrets/out-"+j.run+"/")
		run, _, err := jobclient.Start(ctx, c, sp, j.queue, false)
		if err != nil {
			t.Fatal(err)
		}
		_, err = jobclient.Wait(ctx, c, run, nil)
		if (err != nil) != j.fail {
			t.Fatalf("%s: %v, want failure: %v", j.run, err, j.fail)
		}
		if err != nil {
			haystacks[j.run+" error"] = err.Error()
		}
		for id, events := range jobHistories(t, c, run.GetID()) {
			data, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(&historypb.History{Events: events})
			if err != nil {
				t.Fatal(err)
			}
			haystacks["history of "+id] = string(data)
		}
	}
	for name, wk := range map[string]*worker{"TLS worker": w, "denied worker": bad} {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", wk.cmd.Process.Pid))
		if err == nil {
			haystacks[name+" command line"] = string(cmdline)
		}
		wk.stop()
		haystacks[name+" log"] = wk.log.String()
	}

	assertNoSecrets(t, secrets, haystacks)
	if !strings.Contains(haystacks["e2e-secrets-denied error"], "access denied") {
		t.Errorf("the denied job's error does not say access was denied: %s", haystacks["e2e-secrets-denied error"])
	}
	auth := front.headerValues("authorization")
	sentKey := false
	for _, v := range auth {
		sentKey = sentKey || v == "Bearer "+apiKey
	}
	if !sentKey {
		t.Errorf("the TLS worker never sent its API key (authorization headers: %d)", len(auth))
	}
	t.Logf("searched %d logs, errors, command lines and histories (%d bytes) for 3 secrets; the API key went out in %d authorization headers",
		len(haystacks), total(haystacks), len(auth))
}

func total(m map[string]string) int {
	n := 0
	for _, s := range m {
		n += len(s)
	}
	return n
}

// assertNoSecrets fails the test for every secret found in any haystack,
// naming the secret's kind (never its value) and where it showed.
func assertNoSecrets(t *testing.T, secrets, haystacks map[string]string) {
	t.Helper()
	for what, secret := range secrets {
		for where, text := range haystacks {
			if strings.Contains(text, secret) {
				t.Errorf("the %s shows in the %s", what, where)
			}
		}
	}
}
