package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// Count adds a recorded outcome to the job's counters exactly once (see the
// package comment), marks it counted, fails the job if a threshold is now
// exceeded, and reports the done count it saw (for the finalisation check):
// the value its own increment returned, read only when that was a
// duplicate or the outcome was counted already.
func (l *Ledger) Count(ctx context.Context, job *contracts.Job, o contracts.BatchOutcome, rev uint64) (done int64, err error) {
	done = -1
	if !o.Counted {
		if done, err = l.increment(ctx, job, o, rev); err != nil {
			return 0, err
		}
	}
	if done < 0 {
		if done, err = l.B.Counter(ctx, job.ID, contracts.CounterDone); err != nil {
			return 0, err
		}
	}
	// A failed batch may be the one that crosses a threshold. This is checked
	// on every call, not only the first: the process that counted it may
	// have died before it could stop the job.
	if !o.OK {
		if err := l.checkThresholds(ctx, job); err != nil {
			return done, err
		}
	}
	return done, nil
}

// increment counts the outcome with one increment of the job's outcomes
// counter (deduplicated by the batch index), marks the outcome counted,
// and returns the done count after its increment (-1 when it was a
// duplicate).
func (l *Ledger) increment(ctx context.Context, job *contracts.Job, o contracts.BatchOutcome, rev uint64) (int64, error) {
	c := contracts.OutcomeCounts{Done: 1, ItemsSucceeded: int64(o.Succeeded), ItemsFailed: int64(o.Failed)}
	if !o.OK {
		c.FailedBatches = 1
	}
	counted, dup, err := l.B.CountOutcome(ctx, job.ID, strconv.FormatInt(o.Index, 10), c)
	if err != nil {
		return 0, err
	}
	if err := l.markCounted(ctx, job.ID, o, rev); err != nil {
		return 0, err
	}
	if dup {
		return -1, nil
	}
	// A job that versions before this one partly counted adds their done
	// counter: the caller reads the sum.
	if legacy, err := l.countedBefore(ctx, job.ID); err != nil || legacy {
		return -1, err
	}
	return counted.Done, nil
}

// countedBefore tells whether versions before the outcomes counter counted
// outcomes of the job (its done counter of that time is not zero). It is
// read once per job and process (a fleet is upgraded before new jobs
// come); the answers kept are forgotten all at once past maxLegacyCache.
func (l *Ledger) countedBefore(ctx context.Context, jobID string) (bool, error) {
	l.legacyMu.Lock()
	v, ok := l.legacyCounts[jobID]
	l.legacyMu.Unlock()
	if ok {
		return v, nil
	}
	n, err := l.B.LegacyCounter(ctx, jobID, contracts.CounterDone)
	if err != nil {
		return false, err
	}
	l.legacyMu.Lock()
	if l.legacyCounts == nil || len(l.legacyCounts) >= maxLegacyCache {
		l.legacyCounts = map[string]bool{}
	}
	l.legacyCounts[jobID] = n > 0
	l.legacyMu.Unlock()
	return n > 0, nil
}

// maxLegacyCache bounds the jobs countedBefore keeps an answer for.
const maxLegacyCache = 4096

// markCounted marks the outcome counted (its revision rev unchanged since
// it was read), so that a delivery of its batch after the increment's dedup
// window (an hour) does not count it again, nor a resume (which publishes a
// batch recorded and not marked again). It waits for the server: the
// message is acked only after it. A mark that finds the record changed (a
// racing delivery marked it) is done.
func (l *Ledger) markCounted(ctx context.Context, jobID string, o contracts.BatchOutcome, rev uint64) error {
	o.Counted = true
	b, _ := json.Marshal(o)
	_, err := l.B.Jobs.Update(ctx, contracts.OutcomeKey(jobID, o.Index), b, rev)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
		return fmt.Errorf("marking batch %d of job %s counted: %w", o.Index, jobID, err)
	}
	return nil
}

// checkThresholds fails the job when its counters exceed a threshold.
func (l *Ledger) checkThresholds(ctx context.Context, job *contracts.Job) error {
	st, _, err := l.State(ctx, job.ID)
	if err != nil || st.Terminal() {
		return err
	}
	return l.settle(ctx, job, st, false, nil)
}
