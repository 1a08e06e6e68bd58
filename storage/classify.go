package storage

import (
	"errors"
	"io"
	"net"
	"net/http"
	"syscall"
)

// Verdict is what an error of a store means for the job that met it: worth
// another attempt, or a mistake that only a person can fix.
type Verdict struct {
	// FailNow reports that every later attempt would fail the same way: the
	// job must stop and say what to check.
	FailNow bool
	// Unreachable reports that the store did not answer at all (connection
	// refused, no route, a dial that timed out). It is retried, since the
	// store may come back, and worth telling whoever watches the job.
	Unreachable bool
	// Problem says what is wrong, in words ("bucket does not exist").
	Problem string
	// Check says what to check or change ("check the name or create it").
	Check string
}

// Retry reports whether the error may pass on a later attempt without
// anyone's help: neither a mistake to fix (FailNow) nor a store that does not
// answer (Unreachable, which callers report while they wait).
func (v Verdict) Retry() bool { return !v.FailNow && !v.Unreachable }

// Rule is one row of the classification table: errors that Match get Verdict.
type Rule struct {
	Name    string // what the row is about, for tests and documentation
	Match   func(error) bool
	Verdict Verdict
}

// Rules is the classification table of every error the S3 and file backends
// can meet, in the order Classify tries it (docs/design.md, "Storage error
// classes"). An error that no row matches is
// retried: a store's transient failures are many and varied (5xx answers,
// throttling, resets, bodies cut short, timeouts, the SDK giving up on any of
// these), and retrying what is not understood costs time, while failing
// what would have passed costs a job. The retry rows below are listed so that
// the table names them; they mean the same as no row at all.
var Rules = []Rule{
	// Fail now: the location is wrong.
	{"no such bucket", code("NoSuchBucket"), Verdict{FailNow: true,
		Problem: "bucket does not exist", Check: "check the name or create it"}},
	{"invalid bucket name", code("InvalidBucketName"), Verdict{FailNow: true,
		Problem: "invalid bucket name", Check: "check the bucket name in the URI"}},
	{"wrong region or endpoint", anyOf(code("PermanentRedirect"), code("AuthorizationHeaderMalformed"),
		code("IllegalLocationConstraintException"), status(http.StatusMovedPermanently)), Verdict{FailNow: true,
		Problem: "bucket is in another region or behind another endpoint",
		Check:   "set AWS_REGION to the bucket's region, or AWS_ENDPOINT_URL_S3 to its endpoint"}},
	{"endpoint host not found", hostNotFound, Verdict{FailNow: true,
		Problem: "endpoint host not found", Check: "check the endpoint's host name (AWS_ENDPOINT_URL_S3)"}},
	{"not a folder", is(syscall.ENOTDIR), Verdict{FailNow: true,
		Problem: "a path on the way is a file, not a folder", Check: "check the path"}},
	{"read-only folder", is(syscall.EROFS), Verdict{FailNow: true,
		Problem: "read-only file system", Check: "choose a writable folder"}},
	// Fail now: the worker may not do this.
	{"access denied", anyOf(is(ErrPermission), status(http.StatusForbidden), code("AccessDenied"),
		code("InvalidAccessKeyId"), code("SignatureDoesNotMatch"), code("InvalidToken"),
		code("ExpiredToken"), code("AllAccessDisabled"), code("AccountProblem")), Verdict{FailNow: true,
		Problem: "access denied", Check: "check the worker's storage credentials and the bucket's policy or folder's permissions"}},
	// Retry, and say so: nothing answered.
	{"nothing answers", unreachable, Verdict{Unreachable: true,
		Problem: "store does not answer", Check: "check that the endpoint is up"}},
	// Retry.
	{"throttled", anyOf(code("SlowDown"), code("Throttling"), code("ThrottlingException"),
		code("RequestLimitExceeded"), code("TooManyRequestsException"), status(http.StatusTooManyRequests)),
		Verdict{Problem: "throttled"}},
	{"server error", anyOf(code("InternalError"), code("ServiceUnavailable"), code("RequestTimeout"), serverError),
		Verdict{Problem: "server error"}},
	{"connection broken", anyOf(is(syscall.ECONNRESET), is(syscall.EPIPE), is(io.ErrUnexpectedEOF), timeout),
		Verdict{Problem: "connection broken or timed out"}},
}

// Classify returns the verdict of the first row of Rules that err matches,
// or a plain retry. Errors that wrap several causes (the SDK's "exceeded
// maximum number of attempts" wraps the last one) are judged by their causes.
func Classify(err error) Verdict {
	if err == nil {
		return Verdict{}
	}
	for _, r := range Rules {
		if r.Match(err) {
			return r.Verdict
		}
	}
	return Verdict{}
}

// code matches an S3 API error with the given code (smithy.APIError; matched
// by method so that this package needs no SDK).
func code(c string) func(error) bool {
	return func(err error) bool {
		var api interface{ ErrorCode() string }
		return errors.As(err, &api) && api.ErrorCode() == c
	}
}

// status matches an HTTP response error with the given status code.
func status(s int) func(error) bool {
	return func(err error) bool {
		var resp interface{ HTTPStatusCode() int }
		return errors.As(err, &resp) && resp.HTTPStatusCode() == s
	}
}

// serverError matches any 5xx answer.
func serverError(err error) bool {
	var resp interface{ HTTPStatusCode() int }
	return errors.As(err, &resp) && resp.HTTPStatusCode() >= 500
}

// is matches errors that wrap target.
func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func anyOf(ms ...func(error) bool) func(error) bool {
	return func(err error) bool {
		for _, m := range ms {
			if m(err) {
				return true
			}
		}
		return false
	}
}

// hostNotFound matches a DNS answer that the endpoint's host does not exist:
// a typo in the endpoint, which no retry mends.
func hostNotFound(err error) bool {
	var dns *net.DNSError
	return errors.As(err, &dns) && dns.IsNotFound
}

// unreachable matches a connection that could not be made: refused, no
// route, or a dial that timed out.
func unreachable(err error) bool {
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// timeout matches a network timeout.
func timeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
