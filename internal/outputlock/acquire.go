package outputlock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
)

// Taker is a job that takes an output.
type Taker struct {
	// Job is the job's id.
	Job string
	// Owner names the process that takes it (host-pid-random).
	Owner string
	// Lease is recorded with the taking (default: $PRS_OUTPUT_LEASE, else
	// DefaultLease).
	Lease time.Duration
	// State tells a job's state as the taker's JetStream knows it: known is
	// false when that job is not recorded there (then its record's lease
	// decides), ended when it is Completed, Failed or Cancelled, finished
	// when it ended.
	State func(ctx context.Context, job string) (known, ended bool, finished time.Time, err error)
	// Settle is how long after a job ended without releasing its output the
	// taker waits for its workers' last log writes (default 15s).
	Settle time.Duration
}

// LeaseFromEnv returns $PRS_OUTPUT_LEASE, or DefaultLease when it is unset.
func LeaseFromEnv() (time.Duration, error) {
	v := os.Getenv(LeaseEnv)
	if v == "" {
		return DefaultLease, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 2m", LeaseEnv, v)
	}
	return d, nil
}

// Lock is a job's hold on an output, as Acquire took it.
type Lock struct {
	Key    string
	Record Record
	// Previous is the other job that held the output before ("" when none):
	// its logs may be there.
	Previous string
	// Fresh is set when this taking created the record (a new epoch); it
	// is not for a job that took its own record over.
	Fresh bool
	// Superseded are the keys of earlier records, for Tidy.
	Superseded []string
}

// ErrBusy means another job holds the output.
var ErrBusy = errors.New("the output is in use by another job")

// BusyError tells which job holds the output and until when.
type BusyError struct {
	Output string
	Holder Record
	// Running is set when the taker's JetStream knows the holder's job and
	// it has not ended; otherwise the holder's lease decides.
	Running bool
}

func (e *BusyError) Error() string {
	h := &e.Holder
	since := h.Since.UTC().Format(time.RFC3339)
	if e.Running {
		return fmt.Sprintf("%s is in use by job %s (running; it has held the output since %s, taken by %s): wait for it to end, cancel it (prs cancel %s), or choose another output",
			e.Output, h.Job, since, h.Owner, h.Job)
	}
	return fmt.Sprintf("%s is in use by job %s (taken by %s at %s, last renewed %s ago); a holder that is not renewed for %s loses it, at %s: wait, or choose another output",
		e.Output, h.Job, h.Owner, since, time.Since(h.Renewed).Round(time.Second), h.Lease(), h.Expires().UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrBusy) work.
func (e *BusyError) Unwrap() error { return ErrBusy }

// Acquire takes out for t's job: it creates the next record when the
// output is free (no record, a released or unreadable one, a holder whose
// job ended or whose lease ran out), takes its own job's record over, and
// returns a *BusyError when another job holds it.
func Acquire(ctx context.Context, out objstore.Store, t Taker) (*Lock, error) {
	if t.Lease <= 0 {
		lease, err := LeaseFromEnv()
		if err != nil {
			return nil, err
		}
		t.Lease = lease
	}
	if t.Settle <= 0 {
		t.Settle = 15 * time.Second
	}
	token := newToken()
	for attempt := 1; ; attempt++ {
		cur, keys, err := Read(ctx, out)
		if err != nil {
			return nil, err
		}
		var next uint64 = 1
		prev := ""
		if cur != nil {
			next = cur.Epoch + 1
			if cur.Record.Token == token { // our create, whose answer was lost
				return &Lock{Key: cur.Key, Record: cur.Record, Fresh: true, Superseded: keys[:len(keys)-1]}, nil
			}
			own, err := t.decide(ctx, out, cur)
			if err != nil {
				return nil, err
			}
			if own {
				return t.takeOver(ctx, out, cur, keys)
			}
			if !cur.Unreadable && cur.Record.Job != t.Job {
				prev = cur.Record.Job
			}
		}
		now := time.Now().UTC()
		rec := Record{Job: t.Job, Owner: t.Owner, Since: now, Renewed: now, LeaseSeconds: t.Lease.Seconds(), Token: token}
		err = write(ctx, out, Key(next), &rec, true)
		if err == nil {
			return &Lock{Key: Key(next), Record: rec, Previous: prev, Fresh: true, Superseded: keys}, nil
		}
		if !errors.Is(err, objstore.ErrExists) || attempt == 10 {
			return nil, err
		}
		// Another job took it first: look again.
	}
}

// decide tells whether the current record is the taker's own job's (own)
// or free; it returns a *BusyError when another job holds the output.
func (t *Taker) decide(ctx context.Context, out objstore.Store, cur *Current) (own bool, err error) {
	r := cur.Record
	if cur.Unreadable {
		return false, nil
	}
	known, ended, finished, err := t.State(ctx, r.Job)
	if err != nil {
		return false, err
	}
	switch {
	case r.Job == t.Job && known:
		return true, nil // the same job, resumed
	case r.Released:
		return false, nil
	case known && ended:
		return false, t.settle(ctx, out, cur, finished)
	case known:
		return false, &BusyError{Output: out.URI(""), Holder: r, Running: true}
	case time.Now().After(r.Expires()):
		return false, nil // not renewed within its lease: its holder is gone
	}
	return false, &BusyError{Output: out.URI(""), Holder: r}
}

// settle waits, for at most Settle after the holder's job ended, for its
// workers to release the output (they release it after their last writes
// to its logs).
func (t *Taker) settle(ctx context.Context, out objstore.Store, cur *Current, finished time.Time) error {
	deadline := finished.Add(t.Settle)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		c, _, err := Read(ctx, out)
		if err != nil {
			return err
		}
		if c == nil || c.Key != cur.Key || c.Record.Released {
			return nil
		}
	}
	return nil
}

// takeOver makes the taker the owner of its own job's record.
func (t *Taker) takeOver(ctx context.Context, out objstore.Store, cur *Current, keys []string) (*Lock, error) {
	rec := cur.Record
	rec.Owner, rec.Renewed, rec.Released = t.Owner, time.Now().UTC(), false
	rec.LeaseSeconds = t.Lease.Seconds()
	if err := write(ctx, out, cur.Key, &rec, false); err != nil {
		return nil, err
	}
	return &Lock{Key: cur.Key, Record: rec, Superseded: keys[:len(keys)-1]}, nil
}

// Tidy deletes the records the taking superseded, once the job is
// recorded (best effort: a record left behind is never current again).
func (l *Lock) Tidy(ctx context.Context, out objstore.Store) {
	for _, k := range l.Superseded {
		_ = out.Delete(ctx, k)
	}
	l.Superseded = nil
}

// Abandon undoes a fresh taking whose job was never recorded: it deletes
// the record, so that the output is as before (bar the folders a local
// store made for it).
func (l *Lock) Abandon(ctx context.Context, out objstore.Store) error {
	if !l.Fresh {
		return nil
	}
	return out.Delete(ctx, l.Key)
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
