package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
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

// increment sends the outcome's counter increments (each deduplicated by
// the batch index) together, the done count last, marks the outcome
// counted, and returns the done count after its increment (-1 when it was
// a duplicate).
func (l *Ledger) increment(ctx context.Context, job *contracts.Job, o contracts.BatchOutcome, rev uint64) (int64, error) {
	failedBatches := int64(0)
	if !o.OK {
		failedBatches = 1
	}
	var incs []broker.Increment
	for _, c := range []broker.Increment{
		{Counter: contracts.CounterItemsSucceeded, N: int64(o.Succeeded)},
		{Counter: contracts.CounterItemsFailed, N: int64(o.Failed)},
		{Counter: contracts.CounterFailedBatches, N: failedBatches},
		{Counter: contracts.CounterDone, N: 1},
	} {
		if c.N != 0 {
			incs = append(incs, c)
		}
	}
	vals, err := l.B.Incrs(ctx, job.ID, strconv.FormatInt(o.Index, 10), incs)
	if err != nil {
		return 0, err
	}
	o.Counted = true
	b, _ := json.Marshal(o)
	_, err = l.B.Jobs.Update(ctx, contracts.OutcomeKey(job.ID, o.Index), b, rev)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
		return 0, fmt.Errorf("marking batch %d of job %s counted: %w", o.Index, job.ID, err)
	}
	return vals[len(vals)-1], nil
}

// checkThresholds fails the job when its counters exceed a threshold.
func (l *Ledger) checkThresholds(ctx context.Context, job *contracts.Job) error {
	st, _, err := l.State(ctx, job.ID)
	if err != nil || st.Terminal() {
		return err
	}
	return l.settle(ctx, job, st, false, nil)
}
