package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"

	"github.com/parallelrun/prs/internal/redact"
)

// s3Store keeps objects in an S3 bucket under a key prefix.
type s3Store struct {
	client   *s3.Client
	bucket   string
	prefix   string // "" or ends with "/"
	endpoint string // for error messages
	log      *slog.Logger

	// Put uses a multipart upload for bodies larger than multipartThreshold,
	// in parts of at least partSize bytes (S3 needs at least 5 MiB).
	multipartThreshold int64
	partSize           int64
}

var _ Store = (*s3Store)(nil)

const (
	defaultRegion             = "us-east-1"
	defaultMultipartThreshold = 64 << 20
	defaultPartSize           = 16 << 20
	maxParts                  = 10000
	abortTimeout              = 30 * time.Second
)

func openS3(ctx context.Context, bucket, prefix string, opts Options) (*s3Store, error) {
	partSize := opts.PartSize
	switch {
	case partSize == 0:
		partSize = defaultPartSize
	case partSize < minPartSize:
		return nil, fmt.Errorf("objstore: s3://%s: Options.PartSize %d is under S3's minimum of 5 MiB (%d)", bucket, partSize, minPartSize)
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithDefaultRegion(defaultRegion)}
	if opts.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(opts.Region))
	}
	if opts.AccessKey != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(opts.AccessKey, opts.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: load AWS configuration for s3://%s: %w", bucket, err)
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	endpoint := "the AWS S3 endpoint of region " + cfg.Region
	if cfg.BaseEndpoint != nil {
		endpoint = redact.URL(*cfg.BaseEndpoint)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.S3Endpoint)
			o.UsePathStyle = true
			endpoint = redact.URL(opts.S3Endpoint)
		}
		if opts.HTTPClient != nil {
			// Set here rather than in LoadDefaultConfig, which refuses a
			// plain *http.Client when AWS_CA_BUNDLE is set.
			o.HTTPClient = opts.HTTPClient
		}
		// Ranged and unchecksummed responses would log at DEBUG otherwise.
		o.DisableLogOutputChecksumValidationSkipped = true
		// WithRetry is the single retry policy; the SDK retrying too would
		// multiply attempts and delay the failure of Check.
		o.Retryer = aws.NopRetryer{}
	})
	return &s3Store{
		client:             client,
		bucket:             bucket,
		prefix:             prefix,
		endpoint:           endpoint,
		log:                opts.logger(),
		multipartThreshold: defaultMultipartThreshold,
		partSize:           partSize,
	}, nil
}

func (s *s3Store) logger() *slog.Logger { return s.log }

// URI returns "s3://bucket/prefix/key", or "s3://bucket/prefix" for "".
func (s *s3Store) URI(key string) string {
	if key == "" {
		return strings.TrimSuffix("s3://"+s.bucket+"/"+s.prefix, "/")
	}
	return "s3://" + s.bucket + "/" + s.prefix + key
}

// fail wraps an SDK error with the object's URI and the matching sentinel.
// bucketOp is set for HeadBucket, whose 404 means a missing bucket.
func (s *s3Store) fail(op, key string, err error, bucketOp bool) error {
	uri := s.URI(key)
	var kind error
	var apiErr smithy.APIError
	var status interface{ HTTPStatusCode() int }
	switch {
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchBucket":
		kind = ErrBucketNotFound
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchKey":
		kind = ErrNotFound
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "NotFound":
		kind = ErrNotFound
	case errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed",
		errors.As(err, &status) && status.HTTPStatusCode() == http.StatusPreconditionFailed:
		kind = ErrExists
	case errors.As(err, &apiErr) && isAccessDeniedCode(apiErr.ErrorCode()):
		kind = ErrAccessDenied
	case errors.As(err, &status) && status.HTTPStatusCode() == http.StatusNotFound:
		kind = ErrNotFound
	case errors.As(err, &status) && status.HTTPStatusCode() == http.StatusForbidden:
		kind = ErrAccessDenied
	}
	if kind == ErrNotFound && bucketOp {
		kind = ErrBucketNotFound
	}
	if kind == nil && !errors.As(err, &apiErr) && (!errors.As(err, &status) || status.HTTPStatusCode() == 0) {
		// No answer from the server: name the endpoint.
		uri += " at endpoint " + s.endpoint
	}
	return &opError{op: op, uri: uri, kind: kind, err: err}
}

func isAccessDeniedCode(code string) bool {
	switch code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden",
		"AllAccessDisabled", "InvalidToken", "ExpiredToken", "AccountProblem":
		return true
	}
	return false
}

func (s *s3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	return s.listAfter(ctx, prefix, "", fn)
}

// listAfter lists keys that start with prefix and sort after after, one page
// (at most 1000 keys) at a time.
func (s *s3Store) listAfter(ctx context.Context, prefix, after string, fn func(ObjectInfo) error) error {
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q starts with \"/\"", ErrInvalidKey, prefix)
	}
	in := &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	}
	if after != "" {
		in.StartAfter = aws.String(s.prefix + after)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.fail("list", prefix, err, false)
		}
		for _, obj := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)
			info := ObjectInfo{Key: key, Size: aws.ToInt64(obj.Size), ETag: unquote(aws.ToString(obj.ETag))}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }

func (s *s3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, s.fail("get", key, err, false)
	}
	return out.Body, nil
}

func (s *s3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validateKey(key); err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return ObjectInfo{}, s.fail("stat", key, err, false)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquote(aws.ToString(out.ETag))}, nil
}

// Put uploads with one PutObject, or with a multipart upload for bodies over
// 64 MiB (S3 refuses a single PutObject over 5 GiB). Either way the object
// appears at once, when the upload completes.
func (s *s3Store) Put(ctx context.Context, key string, body io.ReadSeeker) error {
	if err := validateKey(key); err != nil {
		return err
	}
	start, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("objstore: put %s: body: %w", s.URI(key), err)
	}
	end, err := body.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("objstore: put %s: body: %w", s.URI(key), err)
	}
	if _, err := body.Seek(start, io.SeekStart); err != nil {
		return fmt.Errorf("objstore: put %s: body: %w", s.URI(key), err)
	}
	if size := end - start; size > s.multipartThreshold {
		return s.putMultipart(ctx, key, body, size)
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
		Body:   body,
	})
	if err != nil {
		return s.fail("put", key, err, false)
	}
	return nil
}

// PutIfAbsent sends one PutObject with If-None-Match "*": S3 (and MinIO)
// answer 412 Precondition Failed when the key exists.
func (s *s3Store) PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker) error {
	if err := validateKey(key); err != nil {
		return err
	}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(s.prefix + key),
		Body:        body,
		IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		return s.fail("put", key, err, false)
	}
	return nil
}

func (s *s3Store) Delete(ctx context.Context, key string) error {
	if err := validateKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		err = s.fail("delete", key, err, false)
		if errors.Is(err, ErrNotFound) && !errors.Is(err, ErrBucketNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// check sends a HeadBucket. create is ignored: buckets are never created.
func (s *s3Store) check(ctx context.Context, _ bool) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		return s.fail("check", "", err, true)
	}
	return nil
}
