package storage_test

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/hardneg/hardneg/storage"
)

// apiErr builds the error chain the S3 SDK returns for an answer with an
// error code: an operation error around a response error around the API error.
func apiErr(status int, code string) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "GetObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "m"},
	}}
}

// gaveUp is the SDK giving up after its retries on err.
func gaveUp(err error) error { return &retry.MaxAttemptsError{Attempt: 3, Err: err} }

func pathErr(op string, errno syscall.Errno) error {
	return fmt.Errorf("put x under /d: %w", &os.PathError{Op: op, Path: "/d/x", Err: errno})
}

func dialErr(err error) error {
	return fmt.Errorf("list s3://b/: %w", &net.OpError{Op: "dial", Net: "tcp", Err: err})
}

func TestClassify(t *testing.T) {
	type want int
	const (
		retry want = iota
		unreachable
		failNow
	)
	tests := []struct {
		name    string
		err     error
		want    want
		problem string
	}{
		{"no such bucket", apiErr(404, "NoSuchBucket"), failNow, "bucket does not exist"},
		{"invalid bucket name", apiErr(400, "InvalidBucketName"), failNow, "invalid bucket name"},
		{"permanent redirect", apiErr(301, "PermanentRedirect"), failNow, "bucket is in another region or behind another endpoint"},
		{"moved, no code", apiErr(301, ""), failNow, "bucket is in another region or behind another endpoint"},
		{"authorization header malformed", apiErr(400, "AuthorizationHeaderMalformed"), failNow, "bucket is in another region or behind another endpoint"},
		{"access denied", apiErr(403, "AccessDenied"), failNow, "access denied"},
		{"bad key id", apiErr(403, "InvalidAccessKeyId"), failNow, "access denied"},
		{"bad signature", apiErr(403, "SignatureDoesNotMatch"), failNow, "access denied"},
		{"403 without code (HEAD)", apiErr(403, ""), failNow, "access denied"},
		{"marked permission", fmt.Errorf("x: %w", storage.ErrPermission), failNow, "access denied"},
		{"folder permission", pathErr("open", syscall.EACCES), failNow, "access denied"},
		{"not a folder", pathErr("lstat", syscall.ENOTDIR), failNow, "a path on the way is a file, not a folder"},
		{"read-only folder", pathErr("open", syscall.EROFS), failNow, "read-only file system"},
		{"endpoint typo", dialErr(&net.DNSError{Err: "no such host", Name: "s3.exmaple.com", IsNotFound: true}), failNow, "endpoint host not found"},
		{"connection refused", dialErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), unreachable, "store does not answer"},
		{"refused, SDK gave up", gaveUp(dialErr(os.NewSyscallError("connect", syscall.ECONNREFUSED))), unreachable, "store does not answer"},
		{"no route", dialErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), unreachable, "store does not answer"},
		{"DNS server failing", dialErr(&net.DNSError{Err: "server misbehaving", Name: "s3", IsTemporary: true}), unreachable, "store does not answer"},
		{"slow down", apiErr(503, "SlowDown"), retry, "throttled"},
		{"slow down, SDK gave up", gaveUp(apiErr(503, "SlowDown")), retry, "throttled"},
		{"429", apiErr(429, ""), retry, "throttled"},
		{"internal error", apiErr(500, "InternalError"), retry, "server error"},
		{"bad gateway", apiErr(502, ""), retry, "server error"},
		{"reset", fmt.Errorf("read: %w", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}), retry, "connection broken or timed out"},
		{"body cut short", fmt.Errorf("read s3://b/k bytes 0+10: %w", io.ErrUnexpectedEOF), retry, "connection broken or timed out"},
		{"timeout", &net.OpError{Op: "read", Err: timeoutErr{}}, retry, "connection broken or timed out"},
		{"unknown", errors.New("something new"), retry, ""},
		{"missing object", fmt.Errorf("stat: %w", fs.ErrNotExist), retry, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := storage.Classify(tt.err)
			got := retry
			switch {
			case v.FailNow && v.Unreachable:
				t.Fatalf("verdict both fails now and retries: %+v", v)
			case v.FailNow:
				got = failNow
			case v.Unreachable:
				got = unreachable
			}
			if got != tt.want || v.Problem != tt.problem {
				t.Errorf("Classify(%v) = %+v, want class %d, problem %q", tt.err, v, tt.want, tt.problem)
			}
			if v.FailNow && v.Check == "" {
				t.Errorf("fail-now verdict %q says nothing to check", v.Problem)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestRulesNamed checks that every row of the table has a name and a
// problem, so that the table documents itself.
func TestRulesNamed(t *testing.T) {
	for i, r := range storage.Rules {
		if r.Name == "" || r.Verdict.Problem == "" || r.Match == nil {
			t.Errorf("row %d: %+v", i, r)
		}
	}
}

func TestVerdictRetry(t *testing.T) {
	tests := []struct {
		v    storage.Verdict
		want bool
	}{
		{storage.Verdict{}, true},
		{storage.Verdict{Problem: "throttled"}, true},
		{storage.Verdict{FailNow: true}, false},
		{storage.Verdict{Unreachable: true}, false},
	}
	for _, tt := range tests {
		if got := tt.v.Retry(); got != tt.want {
			t.Errorf("%+v.Retry() = %v, want %v", tt.v, got, tt.want)
		}
	}
}
