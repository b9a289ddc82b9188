package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// RangeGetter reads a byte range of an object: the local and S3 backends
// and WithRetry's decorator implement it. n < 0 reads to the end; a range
// past the end is cut short, not an error.
type RangeGetter interface {
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// GetRange reads bytes [off, off+n) of a local file.
func (s *localStore) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("objstore: get range of %s: negative offset %d", s.URI(key), off)
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	f := rc.(*os.File)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, s.fail("get", key, err)
	}
	if n < 0 {
		return f, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, n), f}, nil
}

// GetRange reads bytes [off, off+n) of an object with a ranged GET.
func (s *s3Store) GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("objstore: get range of %s: negative offset %d", s.URI(key), off)
	}
	if n == 0 {
		return io.NopCloser(eofReader{}), nil
	}
	rng := fmt.Sprintf("bytes=%d-", off)
	if n > 0 {
		rng = fmt.Sprintf("bytes=%d-%d", off, off+n-1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
		Range:  aws.String(rng),
	})
	if err != nil {
		if isInvalidRange(err) { // the offset is at or past the end
			return io.NopCloser(eofReader{}), nil
		}
		return nil, s.fail("get", key, err, false)
	}
	return out.Body, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// GetRange retries opening the range on transient errors.
func (r *retryStore) GetRange(ctx context.Context, key string, off, n int64) (rc io.ReadCloser, err error) {
	g, ok := r.s.(RangeGetter)
	if !ok {
		return nil, fmt.Errorf("objstore: %s cannot read ranges", r.s.URI(key))
	}
	err = r.do(ctx, "get", key, func() error {
		rc, err = g.GetRange(ctx, key, off, n)
		return err
	})
	return rc, err
}

// isInvalidRange reports S3's answer to a range that starts past the end.
func isInvalidRange(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange"
}
