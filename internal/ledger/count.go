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
// exceeded, and reports the done count it saw (for the finalisation check).
func (l *Ledger) Count(ctx context.Context, job *contracts.Job, o contracts.BatchOutcome, rev uint64) (done int64, err error) {
	if !o.Counted {
		if err := l.increment(ctx, job, o, rev); err != nil {
			return 0, err
		}
	}
	if done, err = l.B.Counter(ctx, job.ID, contracts.CounterDone); err != nil {
		return 0, err
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

// increment sends the outcome's counter increments (each deduplicated by
// the batch index) and marks the outcome counted.
func (l *Ledger) increment(ctx context.Context, job *contracts.Job, o contracts.BatchOutcome, rev uint64) error {
	id := strconv.FormatInt(o.Index, 10)
	failedBatches := int64(0)
	if !o.OK {
		failedBatches = 1
	}
	for _, c := range []struct {
		name string
		n    int64
	}{
		{contracts.CounterItemsSucceeded, int64(o.Succeeded)},
		{contracts.CounterItemsFailed, int64(o.Failed)},
		{contracts.CounterFailedBatches, failedBatches},
		{contracts.CounterDone, 1},
	} {
		if c.n == 0 {
			continue
		}
		if _, err := l.B.Incr(ctx, job.ID, c.name, c.n, id); err != nil {
			return err
		}
	}
	o.Counted = true
	b, _ := json.Marshal(o)
	_, err := l.B.Jobs.Update(ctx, contracts.OutcomeKey(job.ID, o.Index), b, rev)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
		return fmt.Errorf("marking batch %d of job %s counted: %w", o.Index, job.ID, err)
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
