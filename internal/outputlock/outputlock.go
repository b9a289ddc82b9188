// Package outputlock makes a job the owner of its output location while it
// runs, on a local folder and on S3 alike, with nothing but the object
// store: no other job may write there meanwhile, and a dead owner cannot
// hold it forever.
//
// # Records
//
// The lock is a sequence of small JSON records under the output,
// ".prs/lock.<epoch>.json", epochs counted from 1 and zero-padded so that
// key order is epoch order. The record of the highest epoch is the current
// one: it names the job that holds (or last held) the output, its owner
// (the process that took it), since when, when it was last renewed, the
// holder's lease and whether it was released.
//
// # Taking, renewing, releasing
//
// A job takes the output by creating the next epoch's record with a
// conditional create ([objstore.Store.PutIfAbsent]): of two jobs racing for
// one output exactly one creates it, the other reads the winner and is
// refused. It may take it when there is no record, when the current one is
// released, or when its holder is stale: its job has ended (when the
// taker can read that job's state, in the same JetStream) or its record was
// not renewed within its lease (when it cannot). The same job, resumed, takes
// its own record over.
//
// While the job runs, its workers renew the record (rewrite it with a new
// renewal time) every quarter of the lease, and release it when they see
// the job end. Only the holder ever writes its epoch's record, so a late
// write of a superseded holder never clobbers its successor; superseded
// records are deleted by the taker. A holder that finds a later epoch
// naming another job has lost the output ([ErrLost]).
package outputlock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
)

// DefaultLease is how long a record that is not renewed keeps a job's
// output from another job that cannot read the holder's state. Holders
// renew every quarter of it.
const DefaultLease = 2 * time.Minute

// LeaseEnv overrides DefaultLease for the jobs a process takes (a Go
// duration such as "10s"); for tests and operations.
const LeaseEnv = "PRS_OUTPUT_LEASE"

// Prefix starts the keys of the lock records under an output.
const Prefix = ".prs/lock."

const suffix = ".json"

// Record is one epoch of an output's lock.
type Record struct {
	// Job holds (or last held) the output.
	Job string `json:"job"`
	// Owner is the process that took it (host-pid-random).
	Owner string `json:"owner"`
	// Since is when the job took the output.
	Since time.Time `json:"since"`
	// Renewed is when the record was last written by the holder's side.
	Renewed time.Time `json:"renewed"`
	// LeaseSeconds is the holder's lease: after Renewed plus the lease, a
	// job that cannot read the holder's state may take the output.
	LeaseSeconds float64 `json:"lease_seconds"`
	// Released is set when the job ended and its side let the output go.
	Released bool `json:"released,omitempty"`
	// Token tells this taking apart from any other, also of the same job.
	Token string `json:"token"`
}

// Lease is the record's lease as a duration.
func (r *Record) Lease() time.Duration {
	return time.Duration(r.LeaseSeconds * float64(time.Second))
}

// Expires is when the record stops holding the output against a job that
// cannot read the holder's state.
func (r *Record) Expires() time.Time { return r.Renewed.Add(r.Lease()) }

// Current is the record of an output's highest epoch.
type Current struct {
	Key    string
	Epoch  uint64
	Record Record
	// Unreadable is set when the object is not a record (then Record is
	// zero and the output counts as free).
	Unreadable bool
}

// Key names the record of an epoch.
func Key(epoch uint64) string { return fmt.Sprintf("%s%020d%s", Prefix, epoch, suffix) }

// epochOf parses a record's key.
func epochOf(key string) (uint64, bool) {
	s, ok := strings.CutPrefix(key, Prefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, suffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && n > 0
}

// Read returns an output's current record (nil when it has none) and the
// keys of every record, in epoch order.
func Read(ctx context.Context, out objstore.Store) (*Current, []string, error) {
	var keys []string
	err := out.List(ctx, Prefix, func(o objstore.ObjectInfo) error {
		if _, ok := epochOf(o.Key); ok {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return nil, keys, err
	}
	cur, err := ReadKey(ctx, out, keys[len(keys)-1])
	if errors.Is(err, objstore.ErrNotFound) {
		// Deleted since the listing: a taker cleaned it up; read again.
		return Read(ctx, out)
	}
	if err != nil {
		return nil, keys, err
	}
	return cur, keys, nil
}

// ReadKey reads the record at key, one of the keys Read returns.
func ReadKey(ctx context.Context, out objstore.Store, key string) (*Current, error) {
	epoch, ok := epochOf(key)
	if !ok {
		return nil, fmt.Errorf("%s: %w: not a lock record", key, objstore.ErrInvalidKey)
	}
	cur := &Current{Key: key, Epoch: epoch}
	rc, err := out.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return nil, err
	}
	if json.Unmarshal(b, &cur.Record) != nil || cur.Record.Job == "" {
		cur.Record, cur.Unreadable = Record{}, true
	}
	return cur, nil
}

// write puts rec as key: created (PutIfAbsent) or replaced.
func write(ctx context.Context, out objstore.Store, key string, rec *Record, create bool) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if create {
		return out.PutIfAbsent(ctx, key, bytes.NewReader(b))
	}
	return out.Put(ctx, key, bytes.NewReader(b))
}

// ErrLost means a holder's output was taken by another job.
var ErrLost = errors.New("the output was taken by another job")

// LostError tells which job took the output.
type LostError struct {
	Output string
	By     Record
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%v: %s is held by job %s (owner %s) since %s",
		ErrLost, e.Output, e.By.Job, e.By.Owner, e.By.Since.UTC().Format(time.RFC3339))
}

// Unwrap makes errors.Is(err, ErrLost) work.
func (e *LostError) Unwrap() error { return ErrLost }

// Renew rewrites the holder's record with a new renewal time when it is
// older than an eighth of its lease, so that the job's side keeps its
// output, and returns when to renew next (a quarter of the lease). It does
// nothing to a released record, re-creates a missing one (the output's
// .prs/ folder was deleted), and returns a *LostError when a later record
// names another job.
func Renew(ctx context.Context, out objstore.Store, job, by string) (next time.Duration, err error) {
	next = DefaultLease / 4
	cur, _, err := Read(ctx, out)
	if err != nil {
		return next, err
	}
	now := time.Now().UTC()
	if cur == nil {
		rec := Record{Job: job, Owner: by, Since: now, Renewed: now, LeaseSeconds: DefaultLease.Seconds(), Token: newToken()}
		err := write(ctx, out, Key(1), &rec, true)
		if errors.Is(err, objstore.ErrExists) {
			err = nil // taken meanwhile: the next renewal tells by whom
		}
		return next, err
	}
	if cur.Unreadable {
		return next, nil // a taker will replace it; the next renewal tells
	}
	if cur.Record.Job != job {
		return next, &LostError{Output: out.URI(""), By: cur.Record}
	}
	lease := cur.Record.Lease()
	if lease <= 0 {
		lease = DefaultLease
	}
	next = lease / 4
	if cur.Record.Released || now.Sub(cur.Record.Renewed) < lease/8 {
		return next, nil
	}
	rec := cur.Record
	rec.Renewed = now
	return next, write(ctx, out, cur.Key, &rec, false)
}

// Release marks the job's record released, so that the next job takes the
// output at once. A record of another job is left alone.
func Release(ctx context.Context, out objstore.Store, job string) error {
	cur, _, err := Read(ctx, out)
	if err != nil || cur == nil || cur.Record.Job != job || cur.Record.Released {
		return err
	}
	rec := cur.Record
	rec.Released, rec.Renewed = true, time.Now().UTC()
	return write(ctx, out, cur.Key, &rec, false)
}
