package objstore

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SetMultipartForTest lowers the multipart threshold and part size of an S3
// store so that tests can exercise multipart uploads with small objects.
func SetMultipartForTest(s Store, threshold, partSize int64) {
	s3s := s.(*s3Store)
	s3s.multipartThreshold = threshold
	s3s.partSize = partSize
}

// ListAfterForTest calls the unexported listAfter of a backend.
func ListAfterForTest(s Store, ctx context.Context, prefix, after string, fn func(ObjectInfo) error) error {
	return s.(afterLister).listAfter(ctx, prefix, after, fn)
}

// MultipartUploadsForTest lists the keys of the multipart uploads begun
// and neither completed nor aborted in the bucket of an S3 store (through
// WithRetry too).
func MultipartUploadsForTest(ctx context.Context, s Store) ([]string, error) {
	if r, ok := s.(*retryStore); ok {
		s = r.s
	}
	s3s := s.(*s3Store)
	out, err := s3s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(s3s.bucket)})
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys, nil
}
