package objstore

import (
	"context"
	"errors"
)

// checker is implemented by the backends and by the retry decorator.
type checker interface {
	check(ctx context.Context, create bool) error
}

// Check verifies that s is reachable and usable, to fail fast before work
// starts:
//
//   - S3: a HeadBucket request. A missing bucket gives an error wrapping
//     [ErrBucketNotFound], wrong credentials or a missing permission
//     [ErrAccessDenied], an endpoint that does not answer an error naming the
//     endpoint. create is ignored: buckets are never created.
//   - local folder: with create false, the folder must exist
//     ([ErrBucketNotFound] otherwise) and be readable; with create true it is
//     created when missing and a temporary file is written in it to verify
//     that it is writable.
//
// Check does not retry, even through [WithRetry]. For another Store it lists
// at most one object.
func Check(ctx context.Context, s Store, create bool) error {
	if c, ok := s.(checker); ok {
		return c.check(ctx, create)
	}
	errStop := errors.New("stop")
	err := s.List(ctx, "", func(ObjectInfo) error { return errStop })
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}
