package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/parallelrun/prs/internal/retry"
)

// DefaultRetryMaxElapsed is the retry budget of [WithRetry] when it is given
// a maxElapsed of zero or less.
const DefaultRetryMaxElapsed = time.Minute

// Backoff intervals of WithRetry: 100ms, 150ms, 225ms, ... (±50% jitter), at
// most 5s apart.
const (
	retryInitialInterval = 100 * time.Millisecond
	retryMaxInterval     = 5 * time.Second
)

// afterLister is implemented by the backends: it lists the keys that start
// with prefix and sort after after, so that a retried List resumes where it
// failed.
type afterLister interface {
	listAfter(ctx context.Context, prefix, after string, fn func(ObjectInfo) error) error
}

// retryStore is the decorator of WithRetry.
type retryStore struct {
	s          Store
	maxElapsed time.Duration
	log        *slog.Logger
}

// WithRetry decorates s so that each call retries errors for which
// [IsTransient] is true, with exponential backoff (100ms growing to 5s
// between attempts, with jitter) until maxElapsed has passed since the first
// attempt (maxElapsed <= 0 means [DefaultRetryMaxElapsed]) or ctx is done.
// Permanent errors return at once. Retries are logged at WARN through the
// store's Options.Logger.
//
//   - Put and PutIfAbsent seek the body back to where it was at the call
//     before each retry. [ErrExists] is not retried.
//   - Get retries opening the object; an error while reading the body is the
//     caller's to handle.
//   - List resumes after the last key delivered: fn never sees a key twice.
//     An error returned by fn is never retried and is returned as is.
//   - [Check] is not retried.
//
// When the last attempt fails the error wraps it (errors.Is and errors.As
// work) and tells how many attempts were made; when ctx ends the wait, the
// error wraps both ctx.Err() and the last error.
//
// The returned store implements [LocalPather] by delegating to s (ok is false
// when s does not implement it).
func WithRetry(s Store, maxElapsed time.Duration) Store {
	if maxElapsed <= 0 {
		maxElapsed = DefaultRetryMaxElapsed
	}
	log := slog.Default()
	if l, ok := s.(interface{ logger() *slog.Logger }); ok {
		log = l.logger()
	}
	return &retryStore{s: s, maxElapsed: maxElapsed, log: log}
}

var (
	_ Store       = (*retryStore)(nil)
	_ LocalPather = (*retryStore)(nil)
)

// fnError marks an error returned by the caller's List callback.
type fnError struct{ err error }

func (e *fnError) Error() string { return "list callback failed" }

// policy is WithRetry's backoff: 100ms, 150ms, 225ms, ... (±50% jitter), at
// most 5s apart, within maxElapsed.
func (r *retryStore) policy() retry.Policy {
	return retry.Policy{Initial: retryInitialInterval, Max: retryMaxInterval, Multiplier: 1.5, Jitter: 0.5, MaxElapsed: r.maxElapsed}
}

// do runs f until it succeeds, fails permanently, the budget is spent or ctx
// is done. Only errors for which IsTransient is true are retried, and never
// an error of the caller's List callback.
func (r *retryStore) do(ctx context.Context, op, key string, f func() error) error {
	return retry.Do(ctx, r.policy(), retry.Options{
		Retryable: func(err error) bool {
			var fe *fnError
			return !errors.As(err, &fe) && IsTransient(err)
		},
		Notify: func(err error, attempt int, next time.Duration) {
			r.log.Warn("objstore: retrying after transient error",
				"op", op, "uri", r.s.URI(key), "attempt", attempt, "delay", next, "err", err)
		},
	}, func(context.Context) error { return f() })
}

func (r *retryStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	var last string
	delivered := false
	deliver := func(o ObjectInfo) error {
		if delivered && o.Key <= last {
			return nil // seen before the retry
		}
		if err := fn(o); err != nil {
			return &fnError{err: err}
		}
		last, delivered = o.Key, true
		return nil
	}
	err := r.do(ctx, "list", prefix, func() error {
		if al, ok := r.s.(afterLister); ok && delivered {
			return al.listAfter(ctx, prefix, last, deliver)
		}
		return r.s.List(ctx, prefix, deliver)
	})
	if fe := (*fnError)(nil); errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// listAfter lets a retry decorator wrap another one, and starts the
// listing after after when the backend can (S3's StartAfter).
func (r *retryStore) listAfter(ctx context.Context, prefix, after string, fn func(ObjectInfo) error) error {
	al, ok := r.s.(afterLister)
	if !ok {
		return r.List(ctx, prefix, func(o ObjectInfo) error {
			if o.Key <= after {
				return nil
			}
			return fn(o)
		})
	}
	last := after
	deliver := func(o ObjectInfo) error {
		if o.Key <= last {
			return nil
		}
		if err := fn(o); err != nil {
			return &fnError{err: err}
		}
		last = o.Key
		return nil
	}
	err := r.do(ctx, "list", prefix, func() error { return al.listAfter(ctx, prefix, last, deliver) })
	if fe := (*fnError)(nil); errors.As(err, &fe) {
		return fe.err
	}
	return err
}

// ListAfter calls fn for every object whose key starts with prefix and
// sorts after after, in the order of List: the backends start the listing
// there (S3's StartAfter), a store that cannot lists all and filters.
func ListAfter(ctx context.Context, s Store, prefix, after string, fn func(ObjectInfo) error) error {
	if al, ok := s.(afterLister); ok {
		return al.listAfter(ctx, prefix, after, fn)
	}
	return s.List(ctx, prefix, func(o ObjectInfo) error {
		if o.Key <= after {
			return nil
		}
		return fn(o)
	})
}

func (r *retryStore) Get(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, "get", key, func() error {
		rc, err = r.s.Get(ctx, key)
		return err
	})
	return rc, err
}

func (r *retryStore) Stat(ctx context.Context, key string) (info ObjectInfo, err error) {
	err = r.do(ctx, "stat", key, func() error {
		info, err = r.s.Stat(ctx, key)
		return err
	})
	return info, err
}

func (r *retryStore) Put(ctx context.Context, key string, body io.ReadSeeker) error {
	return r.put(ctx, "put", key, body, r.s.Put)
}

// PutIfAbsent retries as Put does; ErrExists is permanent.
func (r *retryStore) PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker) error {
	return r.put(ctx, "put-if-absent", key, body, r.s.PutIfAbsent)
}

func (r *retryStore) put(ctx context.Context, op, key string, body io.ReadSeeker,
	put func(context.Context, string, io.ReadSeeker) error) error {
	start, err := body.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("objstore: put %s: body: %w", r.s.URI(key), err)
	}
	first := true
	return r.do(ctx, op, key, func() error {
		if !first {
			if _, err := body.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("objstore: put %s: rewind body: %w", r.s.URI(key), err)
			}
		}
		first = false
		return put(ctx, key, body)
	})
}

func (r *retryStore) Delete(ctx context.Context, key string) error {
	return r.do(ctx, "delete", key, func() error { return r.s.Delete(ctx, key) })
}

func (r *retryStore) URI(key string) string { return r.s.URI(key) }

func (r *retryStore) LocalPath(key string) (string, bool) {
	if lp, ok := r.s.(LocalPather); ok {
		return lp.LocalPath(key)
	}
	return "", false
}

func (r *retryStore) check(ctx context.Context, create bool) error {
	return Check(ctx, r.s, create)
}

func (r *retryStore) logger() *slog.Logger { return r.log }
