package objstore

import "context"

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
