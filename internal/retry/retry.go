// Package retry is prs's one way to try an operation again: an exponential
// backoff policy over github.com/cenkalti/backoff/v4, a loop that follows
// it, and a mark for errors that no retry can fix.
//
// A permanent error is marked where it is made (a sentinel declared with
// [Permanent], or an error wrapped by it) and recognised anywhere with
// [IsPermanent], through any number of %w wraps: no caller keeps a list of
// errors from other packages.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// PermanentError marks an error that trying again cannot fix (asynq's
// SkipRetry, river's JobCancel). Match it with [IsPermanent] or errors.As.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent; nil stays nil. A sentinel declared as
// Permanent(errors.New(...)) is permanent wherever it is wrapped.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, is marked
// permanent. The file system's fs.ErrNotExist and fs.ErrPermission count as
// marked: they are the standard library's, so they cannot carry the mark,
// and a missing or forbidden local file does not appear by trying again.
func IsPermanent(err error) bool {
	var pe *PermanentError
	return errors.As(err, &pe) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission)
}

// Policy shapes an exponential backoff: the first delay is Initial, each
// next one Multiplier times longer, at most Max, each moved at random by up
// to ±Jitter of itself. Zero fields take backoff's defaults (500ms, ×1.5,
// 60s, ±0.5), except Jitter, where zero means none. MaxElapsed bounds a [Do]
// loop (0: no bound).
type Policy struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
	MaxElapsed time.Duration
}

func (p Policy) backoff() *backoff.ExponentialBackOff {
	opts := []backoff.ExponentialBackOffOpts{
		backoff.WithRandomizationFactor(p.Jitter),
		backoff.WithMaxElapsedTime(p.MaxElapsed),
	}
	if p.Initial > 0 {
		opts = append(opts, backoff.WithInitialInterval(p.Initial))
	}
	if p.Max > 0 {
		opts = append(opts, backoff.WithMaxInterval(p.Max))
	}
	if p.Multiplier > 0 {
		opts = append(opts, backoff.WithMultiplier(p.Multiplier))
	}
	return backoff.NewExponentialBackOff(opts...)
}

// Delay is the wait after failure n (1-based) before try n+1, as a Do loop
// would wait it (MaxElapsed does not apply).
func (p Policy) Delay(n int) time.Duration {
	p.MaxElapsed = 0
	b := p.backoff()
	d := b.NextBackOff()
	for i := 1; i < n; i++ {
		d = b.NextBackOff()
	}
	return d
}

// Options are what a Do loop may be told besides its policy.
type Options struct {
	// Retryable says whether an error is worth another try (default: every
	// error that is not permanent). A permanent error is never retried.
	Retryable func(error) bool
	// Timeout bounds each call of op (0: only ctx bounds it).
	Timeout time.Duration
	// Notify is told of each failure that will be tried again, before the
	// wait (default nothing).
	Notify func(err error, try int, wait time.Duration)
}

// GaveUpError is the error of a Do loop that spent its MaxElapsed: it wraps
// the last error and tells how many tries were made.
type GaveUpError struct {
	Err     error
	Tries   int
	Elapsed time.Duration
}

func (e *GaveUpError) Error() string {
	return fmt.Sprintf("%v (gave up after %d attempts in %s)", e.Err, e.Tries, e.Elapsed.Round(time.Millisecond))
}
func (e *GaveUpError) Unwrap() error { return e.Err }

// Do calls op until it succeeds or its error is not to be retried (then
// that error is returned as it is), the policy's MaxElapsed is spent (a
// *GaveUpError), or ctx is done. A ctx that ends while op runs returns op's
// error as it is; one that ends a wait returns an error wrapping both
// ctx.Err() and op's last error.
func Do(ctx context.Context, p Policy, opt Options, op func(context.Context) error) error {
	b := p.backoff()
	for try := 1; ; try++ {
		err := call(ctx, opt.Timeout, op)
		if err == nil || IsPermanent(err) || (opt.Retryable != nil && !opt.Retryable(err)) || ctx.Err() != nil {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return &GaveUpError{Err: err, Tries: try, Elapsed: b.GetElapsedTime()}
		}
		if opt.Notify != nil {
			opt.Notify(err, try, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w; last error: %w", ctx.Err(), err)
		case <-t.C:
		}
	}
}

func call(ctx context.Context, timeout time.Duration, op func(context.Context) error) error {
	if timeout <= 0 {
		return op(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return op(ctx)
}
