// Package devenv starts the local servers that hardneg's tests and demo run
// against: a Temporal dev server (with its UI) and a versitygw S3 gateway over a
// local folder, both on loopback.
//
// The binaries come from the pinned tools module (tools/go.mod): `go tool -n`
// builds them once into Go's build cache and prints their path, and they are then
// run directly, so that stopping a server stops the server and not a `go`
// wrapper around it. Each server runs in its own process group and Stop ends
// the whole group.
package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// SearchAttributes are the typed search attributes a hardneg job upserts; the
// dev server registers them at start.
var SearchAttributes = []string{
	"HardnegRun=Keyword",
	"HardnegEpoch=Int",
	"HardnegPhase=Keyword",
	"HardnegProgress=Double",
}

// Server is one running server process.
type Server struct {
	Name string
	Addr string // host:port it answers on
	cmd  *exec.Cmd
	done chan error
}

// RootDir finds the module root (the folder holding tools/go.mod) from the
// working directory upwards, so tests in any package can find the tools.
func RootDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find tools/go.mod: not inside the hardneg module")
		}
		dir = parent
	}
}

// ToolPath builds (once; Go caches it) and returns the path of a pinned tool:
// "temporal" or "versitygw".
func ToolPath(ctx context.Context, name string) (string, error) {
	root, err := RootDir()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "tool", "-modfile="+filepath.Join(root, "tools", "go.mod"), "-n", name)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build tool %s: %w: %s", name, err, stderr.String())
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return "", fmt.Errorf("build tool %s: go tool -n printed no path", name)
	}
	return path, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// start runs a tool in its own process group and waits until addr accepts
// connections, or the process dies, or the timeout passes.
func start(ctx context.Context, name, addr string, log io.Writer, env []string, args ...string) (*Server, error) {
	path, err := ToolPath(ctx, name)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &Server{Name: name, Addr: addr, cmd: cmd, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	if err := s.waitReady(ctx, 90*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", s.Addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return fmt.Errorf("%s exited before answering on %s: %v", s.Name, s.Addr, err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer on %s within %s", s.Name, s.Addr, timeout)
}

// Stop ends the server's process group: SIGTERM, then SIGKILL after 10 s.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.done
		s.done <- nil
	}
}

// Kill ends the server at once with SIGKILL, as a crash would.
func (s *Server) Kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	err := <-s.done
	s.done <- err
}

// S3 is a running versitygw gateway.
type S3 struct {
	*Server
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Dir       string // the folder it serves; buckets are its sub-folders
}

// Env returns the AWS settings that point the SDK's standard chain at the gateway.
func (s *S3) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=us-east-1",
	}
}

// StartS3 starts versitygw serving dir on 127.0.0.1:port (0 picks a free port).
// The root credentials go through the environment, not argv, so they do not
// show in a process listing.
func StartS3(ctx context.Context, dir string, port int, accessKey, secretKey string, log io.Writer) (*S3, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	if port == 0 {
		var err error
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := []string{"ROOT_ACCESS_KEY=" + accessKey, "ROOT_SECRET_KEY=" + secretKey}
	srv, err := start(ctx, "versitygw", addr, log, env, "--port", addr, "--quiet", "posix", dir)
	if err != nil {
		return nil, err
	}
	return &S3{Server: srv, Endpoint: "http://" + addr, AccessKey: accessKey, SecretKey: secretKey, Dir: dir}, nil
}

// Temporal is a running Temporal dev server.
type Temporal struct {
	*Server
	UIPort int
	DBFile string
}

// UIURL is the address of the Temporal UI.
func (t *Temporal) UIURL() string { return fmt.Sprintf("http://127.0.0.1:%d", t.UIPort) }

// TemporalOptions places the dev server. Zero ports pick free ones.
type TemporalOptions struct {
	Port, UIPort int
	DBFile       string // "" keeps the state in memory
	Headless     bool   // no UI
}

// StartTemporal starts `temporal server start-dev` on loopback with hardneg's
// search attributes registered.
func StartTemporal(ctx context.Context, opts TemporalOptions, log io.Writer) (*Temporal, error) {
	var err error
	for _, p := range []*int{&opts.Port, &opts.UIPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	metrics, err := FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", opts.Port)
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(opts.Port),
		"--ui-port", fmt.Sprint(opts.UIPort), "--metrics-port", fmt.Sprint(metrics), "--http-port", fmt.Sprint(httpPort), "--log-level", "warn"}
	if opts.Headless {
		args = append(args, "--headless")
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
	}
	for _, sa := range SearchAttributes {
		args = append(args, "--search-attribute", sa)
	}
	srv, err := start(ctx, "temporal", addr, log, nil, args...)
	if err != nil {
		return nil, err
	}
	return &Temporal{Server: srv, UIPort: opts.UIPort, DBFile: opts.DBFile}, nil
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }
