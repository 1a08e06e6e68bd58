// Package s3 is a storage.Store over an S3 bucket, with aws-sdk-go-v2.
//
// Credentials, region and endpoint come from the SDK's standard chain
// (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE, instance
// roles, AWS_ENDPOINT_URL_S3, ...). When a custom endpoint is set, addressing is
// path-style, which S3-compatible stores (versitygw, MinIO, Ceph) expect. The SDK's
// retryer handles throttling and transient errors; large uploads go through the
// transfer manager as multipart uploads, and large ranged reads are split into
// parallel GETs. Nothing here logs, so no secret can reach a log line.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/hardneg/hardneg/storage"
)

const (
	// splitSize is the span above which one ReadAt becomes several parallel
	// ranged GETs: one GET streams at a few hundred MB/s, a shard is hundreds of MB.
	splitSize = 8 << 20
	// readParallel bounds the GETs of one ReadAt in flight.
	readParallel = 8
)

// Store is a storage.Store over one S3 bucket.
type Store struct {
	client   *s3.Client
	tm       *transfermanager.Client
	bucket   string
	endpoint string // where the bucket is, for messages
}

var _ storage.Store = (*Store)(nil)

// Options adjusts how the client is built. The zero value uses the SDK's
// standard configuration chain.
type Options struct {
	// Endpoint overrides the endpoint; empty means AWS_ENDPOINT_URL_S3 or AWS.
	Endpoint string
	// PathStyle forces path-style addressing. It is on whenever a custom
	// endpoint is set (here or by AWS_ENDPOINT_URL_S3).
	PathStyle bool
	// Region overrides the region; empty means the standard chain, then us-east-1.
	Region string
}

// DefaultMaxAttempts is how many times a request is sent at most, unless
// AWS_MAX_ATTEMPTS or the AWS config file says otherwise: the SDK's 3 let a
// throttled (503 SlowDown) or failing S3 give up on about 1 request in 25 at
// a third of requests failing, and each such error fails a whole activity,
// which Temporal then retries from its start after a backoff that doubles
// (a rebalance of many parts waited up to 93 s between attempts in
// TestS3FaultsSmallBlocks). The SDK's backoff between attempts (jittered,
// at most 20 s) suits a batch job, where waiting beats starting over.
const DefaultMaxAttempts = 5

// New returns a store for bucket, configured from the environment.
func New(ctx context.Context, bucket string, opts Options) (*Store, error) {
	var loadOpts []func(*config.LoadOptions) error
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for bucket %s: %w", bucket, err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	custom := opts.Endpoint != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = opts.PathStyle || custom
		// Ranged GETs carry no whole-object checksum; the SDK would log a DEBUG
		// line for each one. Integrity of a range is pinned by If-Match instead.
		o.DisableLogOutputChecksumValidationSkipped = true
		if r, ok := o.Retryer.(aws.RetryerV2); ok {
			o.Retryer = countingRetryer{r}
		}
		if o.RetryMaxAttempts == 0 { // AWS_MAX_ATTEMPTS or the config file's max_attempts win
			o.RetryMaxAttempts = DefaultMaxAttempts
		}
	})
	return &Store{client: client, tm: transfermanager.New(client), bucket: bucket, endpoint: endpoint(opts, cfg.Region)}, nil
}

// endpoint names where requests go, for messages: a wrong bucket is usually
// a typo in its name or in the endpoint, and the message should show both.
func endpoint(opts Options, region string) string {
	for _, e := range []string{opts.Endpoint, os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL")} {
		if e != "" {
			return "endpoint " + e
		}
	}
	return "AWS S3 in " + region
}

// where names an object or prefix and the endpoint, for messages.
func (s *Store) where(key string) string {
	return fmt.Sprintf("s3://%s/%s at %s", s.bucket, key, s.endpoint)
}

// List returns every object under prefix, following continuation tokens past
// the 1,000 keys of one page. S3 lists in UTF-8 byte order, which is key order.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.ObjectInfo, error) {
	var out []storage.ObjectInfo
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", s.where(prefix), marked(err))
		}
		for _, o := range page.Contents {
			out = append(out, storage.ObjectInfo{
				Key:  aws.ToString(o.Key),
				Size: aws.ToInt64(o.Size),
				ETag: strings.Trim(aws.ToString(o.ETag), `"`),
			})
		}
	}
	return out, nil
}

// Stat describes one object with a HEAD request.
func (s *Store) Stat(ctx context.Context, key string) (storage.ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return storage.ObjectInfo{}, fmt.Errorf("stat %s: %w", s.where(key), marked(err))
	}
	return storage.ObjectInfo{
		Key:  key,
		Size: aws.ToInt64(out.ContentLength),
		ETag: strings.Trim(aws.ToString(out.ETag), `"`),
	}, nil
}

// marked marks S3's "no such key" answers with storage.ErrNotExist, and
// its access-denied answers (HTTP 403: wrong keys, a bad signature, a policy)
// with storage.ErrPermission.
func marked(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	var resp *awshttp.ResponseError
	switch {
	case errors.As(err, &nsk) || errors.As(err, &nf) ||
		(errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")):
		return fmt.Errorf("%w: %w", storage.ErrNotExist, err)
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusForbidden:
		return fmt.Errorf("%w: %w", storage.ErrPermission, err)
	}
	return err
}

// Open stats the object and returns a reader of byte ranges of that version.
func (s *Store) Open(ctx context.Context, key string) (storage.Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &object{ctx: ctx, s: s, info: info}, nil
}

type object struct {
	ctx  context.Context
	s    *Store
	info storage.ObjectInfo
}

func (o *object) Info() storage.ObjectInfo { return o.info }
func (o *object) Close() error             { return nil }

// ReadAt reads len(p) bytes at off with ranged GETs, several in parallel when
// the span is large. Like io.ReaderAt it returns io.EOF when p reaches past the end.
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read s3://%s/%s: negative offset", o.s.bucket, o.info.Key)
	}
	if off >= o.info.Size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := len(p)
	var eof error
	if rest := o.info.Size - off; int64(n) > rest {
		n, eof = int(rest), io.EOF
	}
	g, ctx := errgroup.WithContext(o.ctx)
	g.SetLimit(readParallel)
	for start := 0; start < n; start += splitSize {
		end := min(start+splitSize, n)
		g.Go(func() error { return o.readRange(ctx, p[start:end], off+int64(start)) })
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	return n, eof
}

// retries counts the requests sent again, for Retries.
var retries atomic.Int64

// Retries is how many S3 requests this process has sent again since it
// started: by the SDK's retryer after an error or throttling, and by a store's
// reads after a body broke off. A worker exports it as a metric; a steady
// climb means a struggling store.
func Retries() int64 { return retries.Load() }

// countingRetryer is the SDK's retryer, counting the retries it decides on
// (it asks for a delay once before each).
type countingRetryer struct{ aws.RetryerV2 }

func (r countingRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	retries.Add(1)
	return r.RetryerV2.RetryDelay(attempt, err)
}

// bodyAttempts is how many times readRange sends a GET whose body breaks off
// while it is read. The SDK's retryer retries a request that fails, but a body
// is read after the request has returned, so a connection reset mid-body would
// otherwise fail the whole read (and the activity above it).
const bodyAttempts = 3

// readRange fills p from a GET of bytes [off, off+len(p)), sent again when the
// body breaks off. If-Match pins the version that Open saw: a shard rewritten
// while it is read is an error, not a silent mix of two versions.
func (o *object) readRange(ctx context.Context, p []byte, off int64) error {
	var err error
	for i := range bodyAttempts {
		var bodyFailed bool
		if bodyFailed, err = o.getRange(ctx, p, off); !bodyFailed || ctx.Err() != nil {
			return err
		}
		if i+1 < bodyAttempts {
			retries.Add(1)
		}
	}
	return err
}

// getRange is one GET of readRange. bodyFailed reports that the request
// succeeded and reading its body did not.
func (o *object) getRange(ctx context.Context, p []byte, off int64) (bodyFailed bool, err error) {
	in := &s3.GetObjectInput{
		Bucket: aws.String(o.s.bucket),
		Key:    aws.String(o.info.Key),
		Range:  aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(p))-1)),
	}
	if o.info.ETag != "" {
		in.IfMatch = aws.String(`"` + o.info.ETag + `"`)
	}
	out, err := o.s.client.GetObject(ctx, in)
	if err != nil {
		return false, fmt.Errorf("read %s bytes %d+%d: %w", o.s.where(o.info.Key), off, len(p), marked(err))
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, p); err != nil {
		return true, fmt.Errorf("read s3://%s/%s bytes %d+%d: %w", o.s.bucket, o.info.Key, off, len(p), err)
	}
	return false, nil
}

// singlePutBytes bounds the bodies already in memory that Put sends in one
// PutObject; it is the transfer manager's multipart threshold.
const singlePutBytes = 16 << 20

// Put uploads r; the transfer manager switches to a multipart upload for large
// bodies. A body already in memory (*bytes.Reader, *bytes.Buffer) under
// singlePutBytes goes up in one PutObject straight from its bytes: the
// transfer manager would first copy it, and a worker writes a checkpoint of
// several MB after every tile. S3 makes an object visible only when its
// upload completes.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	var err error
	if body := inMemory(r); body != nil && body.Len() < singlePutBytes {
		_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.bucket),
			Key:    aws.String(key),
			Body:   body,
		})
	} else {
		_, err = s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
			Bucket: aws.String(s.bucket),
			Key:    aws.String(key),
			Body:   r,
		})
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", s.where(key), marked(err))
	}
	return nil
}

// inMemory returns a reader of the unread bytes of r when r holds them in
// memory, and nil otherwise.
func inMemory(r io.Reader) *bytes.Reader {
	switch b := r.(type) {
	case *bytes.Reader:
		return b
	case *bytes.Buffer:
		return bytes.NewReader(b.Bytes())
	}
	return nil
}

// Delete removes one object; S3 answers success for a missing key too.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("delete %s: %w", s.where(key), marked(err))
	}
	return nil
}

// CreateBucket makes the bucket if it does not exist yet. The demo and tests
// use it on a fresh local gateway; a job never creates buckets.
func (s *Store) CreateBucket(ctx context.Context) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return nil
}
