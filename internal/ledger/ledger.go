package ledger

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/joblogs"
)

// Ledger reads and changes jobs' records.
type Ledger struct {
	B      *broker.Handles
	Stores *Stores
	Log    *slog.Logger
	// Worker names this process in claims and outcomes.
	Worker string
	// Lease is how long a finalize claim holds without renewal (default 30s).
	Lease time.Duration
	// FinalWindow is how many mini-batches finalisation reads ahead of the
	// one it writes (default 32; 1 reads one at a time).
	FinalWindow int

	// legacyCounts caches, per job id, whether versions before the
	// outcomes counter counted some of its outcomes (countedBefore).
	legacyMu     sync.Mutex
	legacyCounts map[string]bool
}

// New returns a Ledger; log may be nil.
func New(b *broker.Handles, stores *Stores, worker string, log *slog.Logger) *Ledger {
	if log == nil {
		log = slog.Default()
	}
	return &Ledger{B: b, Stores: stores, Log: log, Worker: worker, Lease: 30 * time.Second}
}

// ErrStateConflict is returned when a state change finds the job in a state
// that does not allow it.
var ErrStateConflict = errors.New("job state does not allow this change")

// Job reads a job's record.
func (l *Ledger) Job(ctx context.Context, id string) (*contracts.Job, error) {
	e, err := l.B.Jobs.Get(ctx, contracts.JobKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("job %s: %w", id, broker.ErrNoJob)
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	var j contracts.Job
	if err := json.Unmarshal(e.Value(), &j); err != nil {
		return nil, fmt.Errorf("job %s: bad record: %w", id, err)
	}
	return &j, nil
}

// State reads a job's state and its KV revision.
func (l *Ledger) State(ctx context.Context, id string) (contracts.JobState, uint64, error) {
	var s contracts.JobState
	e, err := l.B.Jobs.Get(ctx, contracts.StateKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return s, 0, fmt.Errorf("job %s: %w", id, broker.ErrNoJob)
	}
	if err != nil {
		return s, 0, fmt.Errorf("state of job %s: %w", id, err)
	}
	if err := json.Unmarshal(e.Value(), &s); err != nil {
		return s, 0, fmt.Errorf("state of job %s: %w", id, err)
	}
	return s, e.Revision(), nil
}

// UpdateState applies fn to the job's state by compare-and-swap, retrying on
// conflicts. fn returns ErrStateConflict (or another error) to change nothing.
func (l *Ledger) UpdateState(ctx context.Context, id string, fn func(*contracts.JobState) error) (contracts.JobState, error) {
	for {
		s, rev, err := l.State(ctx, id)
		if err != nil {
			return s, err
		}
		wasTerminal := s.Terminal()
		if err := fn(&s); err != nil {
			return s, err
		}
		if !wasTerminal && s.Terminal() {
			l.markEnded(ctx, id)
		}
		s.Updated = time.Now().UTC()
		b, _ := json.Marshal(s)
		_, err = l.B.Jobs.Update(ctx, contracts.StateKey(id), b, rev)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return s, fmt.Errorf("state of job %s: %w", id, err)
		}
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
	}
}

func isWrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// Stop moves a running job to Failed or Cancelled with a reason and purges
// its remaining mini-batch messages so that none of them runs. It reports
// whether this call made the change.
func (l *Ledger) Stop(ctx context.Context, id, state, reason string) (bool, error) {
	changed := false
	_, err := l.UpdateState(ctx, id, func(s *contracts.JobState) error {
		if s.Terminal() {
			return ErrStateConflict
		}
		s.State, s.Reason, s.Finished = state, reason, time.Now().UTC()
		changed = true
		return nil
	})
	if errors.Is(err, ErrStateConflict) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := l.B.Batches.Purge(ctx, jetstream.WithPurgeSubject(contracts.BatchSubject(id))); err != nil {
		l.Log.Warn("purging the job's remaining mini-batches", "job", id, "err", err)
	}
	l.Log.Info("job stopped", "job", id, "state", state, "reason", reason)
	l.writeReports(ctx, id)
	if changed {
		if job, err := l.Job(ctx, id); err == nil {
			l.cleanAfterEnd(ctx, job, nil)
		}
	}
	return changed, nil
}

// writeReports writes the job's overview, report and error summary at once
// (best effort); every worker rewrites them a flush interval later, once
// the last records of every worker have landed.
func (l *Ledger) writeReports(ctx context.Context, id string) {
	err := func() error {
		job, err := l.Job(ctx, id)
		if err != nil {
			return err
		}
		st, _, err := l.State(ctx, id)
		if err != nil {
			return err
		}
		c, err := l.Counters(ctx, id, st)
		if err != nil {
			return err
		}
		outcomes, err := l.Outcomes(ctx, id)
		if err != nil {
			return err
		}
		out, err := l.Stores.Open(ctx, job.Config.Output)
		if err != nil {
			return err
		}
		return joblogs.WriteReports(ctx, out, job, st, c, outcomes)
	}()
	if err != nil {
		l.Log.Warn("writing the job's reports", "job", id, "err", err)
	}
}

// Outcome reads a mini-batch's recorded outcome; ok is false when none is.
func (l *Ledger) Outcome(ctx context.Context, jobID string, index int64) (o contracts.BatchOutcome, rev uint64, ok bool, err error) {
	e, err := l.B.Jobs.Get(ctx, contracts.OutcomeKey(jobID, index))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return o, 0, false, nil
	}
	if err != nil {
		return o, 0, false, fmt.Errorf("outcome of batch %d of job %s: %w", index, jobID, err)
	}
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return o, 0, false, fmt.Errorf("outcome of batch %d of job %s: %w", index, jobID, err)
	}
	return o, e.Revision(), true, nil
}

// recordRoom is what a record leaves free of its bucket's largest value:
// the headers of a KV update, and what Count and Record add to it (counted,
// the time it finished).
const recordRoom = 1 << 10

// ErrRecordTooLarge means an outcome does not fit in the jobs bucket
// (Handles.MaxRecord); its rows belong in an object (Fits tells beforehand).
var ErrRecordTooLarge = errors.New("the outcome record is larger than the jobs bucket takes")

// Fits reports whether an outcome's record fits in the jobs bucket, with
// room for the headers and fields added when it is recorded and counted.
// An outcome whose rows it holds itself (Rows) and that does not fit must
// have its rows in an object instead.
func (l *Ledger) Fits(o contracts.BatchOutcome) bool {
	if l.B.MaxRecord <= 0 || outcomeSizeBound(o)+recordRoom <= l.B.MaxRecord {
		return true // most outcomes: far below the limit, not marshalled
	}
	b, _ := json.Marshal(o)
	return len(b)+recordRoom <= l.B.MaxRecord
}

// outcomeSizeBound is at least the length of o's JSON: the length of an
// outcome whose numbers and times are their longest, plus six bytes for
// each byte of its strings (JSON writes a byte as \u00XX at worst, an
// invalid one as \ufffd) and its rows in base64.
func outcomeSizeBound(o contracts.BatchOutcome) int {
	n := 0
	for _, s := range []string{o.Result, o.ResultKey, o.FilesKey, o.ErrorType, o.Error, o.Worker, o.Host, o.FirstItem} {
		n += len(s)
	}
	return outcomeSkeleton + 6*n + base64.StdEncoding.EncodedLen(len(o.Rows))
}

// outcomeSkeleton is the JSON length of an outcome with every field
// present at its longest, its strings and rows of one byte.
var outcomeSkeleton = func() int {
	t := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -(23*3600+59*60)))
	o := contracts.BatchOutcome{
		Index: math.MinInt64, Attempt: math.MinInt, Result: "x", OK: true,
		Items: math.MinInt, Succeeded: math.MinInt, Failed: math.MinInt,
		ResultKey: "x", Rows: []byte{0}, FilesKey: "x", ErrorType: "x", Error: "x", Worker: "x",
		Host: "x", PID: math.MinInt, Start: t, Seconds: -math.MaxFloat64, FirstItem: "x",
		ExtraCalls: math.MinInt, Counted: true, Finished: t,
	}
	b, _ := json.Marshal(o)
	return len(b)
}()

// Record writes a mini-batch's outcome unless one is recorded already, and
// returns the outcome that holds (its own or the earlier one) with its revision.
func (l *Ledger) Record(ctx context.Context, jobID string, o contracts.BatchOutcome) (contracts.BatchOutcome, uint64, error) {
	o.Finished = time.Now().UTC()
	b, _ := json.Marshal(o)
	// Half the room is enough here: the time it finished is in b already.
	if l.B.MaxRecord > 0 && len(b)+recordRoom/2 > l.B.MaxRecord {
		return o, 0, fmt.Errorf("recording batch %d of job %s: %w (%d bytes, at most %d)", o.Index, jobID, ErrRecordTooLarge, len(b), l.B.MaxRecord-recordRoom/2)
	}
	rev, err := l.B.Jobs.Create(ctx, contracts.OutcomeKey(jobID, o.Index), b)
	if err == nil {
		return o, rev, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return o, 0, fmt.Errorf("recording batch %d of job %s: %w", o.Index, jobID, err)
	}
	held, rev, ok, err := l.Outcome(ctx, jobID, o.Index)
	if err != nil {
		return o, 0, err
	}
	if !ok {
		return o, 0, fmt.Errorf("recording batch %d of job %s: outcome vanished", o.Index, jobID)
	}
	return held, rev, nil
}

// Retried counts one failed attempt that will be tried again, once per
// batch and attempt.
func (l *Ledger) Retried(ctx context.Context, jobID string, index int64, attempt int) error {
	_, err := l.B.Incr(ctx, jobID, contracts.CounterRetried, 1, fmt.Sprintf("%d.%d", index, attempt))
	return err
}

// FailedOutcomes returns up to limit outcomes of failed mini-batches, in
// the order KV lists them, and how many failed outcomes there are in all.
func (l *Ledger) FailedOutcomes(ctx context.Context, jobID string, limit int) ([]contracts.BatchOutcome, int, error) {
	keys, err := l.B.Jobs.ListKeysFiltered(ctx, fmt.Sprintf("job.%s.batch.*", jobID))
	if err != nil {
		return nil, 0, err
	}
	defer keys.Stop()
	var out []contracts.BatchOutcome
	n := 0
	for k := range keys.Keys() {
		e, err := l.B.Jobs.Get(ctx, k)
		if err != nil {
			continue
		}
		var o contracts.BatchOutcome
		if json.Unmarshal(e.Value(), &o) != nil || o.OK {
			continue
		}
		n++
		if len(out) < limit {
			o.Rows = nil // a partial result's rows are for the final file alone
			out = append(out, o)
		}
	}
	return out, n, nil
}

// BeginIsolation marks that a mini-batch's isolation (isolate_failures)
// began on try; a mark already there holds. It returns the try of the mark
// that holds.
func (l *Ledger) BeginIsolation(ctx context.Context, jobID string, index int64, try int) (int, error) {
	key := contracts.IsolationKey(jobID, index)
	if _, err := l.B.Jobs.Create(ctx, key, fmt.Appendf(nil, "%d", try)); err == nil {
		return try, nil
	} else if !errors.Is(err, jetstream.ErrKeyExists) {
		return 0, fmt.Errorf("marking the isolation of batch %d of job %s: %w", index, jobID, err)
	}
	began, err := l.Isolation(ctx, jobID, index)
	if err == nil && began == 0 {
		err = fmt.Errorf("marking the isolation of batch %d of job %s: the mark vanished", index, jobID)
	}
	return began, err
}

// Isolation reads the try on which a mini-batch's isolation began, 0 when
// none did.
func (l *Ledger) Isolation(ctx context.Context, jobID string, index int64) (int, error) {
	e, err := l.B.Jobs.Get(ctx, contracts.IsolationKey(jobID, index))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the isolation of batch %d of job %s: %w", index, jobID, err)
	}
	var try int
	if _, err := fmt.Sscan(string(e.Value()), &try); err != nil {
		return 0, fmt.Errorf("reading the isolation of batch %d of job %s: %w", index, jobID, err)
	}
	return try, nil
}
