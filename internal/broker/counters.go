package broker

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// Incr adds n to one of a job's counters, at most once per id within the
// dedup window: sending the same id again (after a crash, a redelivery or a
// race) does not count twice. It returns the counter's value after the
// increment, or -1 when the increment was a duplicate.
func (h *Handles) Incr(ctx context.Context, jobID, counter string, n int64, id string) (int64, error) {
	msg := nats.NewMsg(contracts.CounterSubject(jobID, counter))
	msg.Header.Set("Nats-Incr", strconv.FormatInt(n, 10))
	msg.Header.Set(jetstream.MsgIDHeader, jobID+"."+counter+"."+id)
	ack, err := h.JS.PublishMsg(ctx, msg)
	if err != nil {
		return 0, fmt.Errorf("counter %s of job %s: %w", counter, jobID, err)
	}
	if ack.Duplicate {
		return -1, nil
	}
	v, err := strconv.ParseInt(ack.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %s of job %s: bad value %q", counter, jobID, ack.Value)
	}
	return v, nil
}

// Increment is one addition to a job's counter, for Incrs.
type Increment struct {
	Counter string
	N       int64
}

// Incrs sends several increments of a job's counters, each deduplicated as
// Incr deduplicates it (its counter and id): all but the last at once (one
// round trip instead of one each), then the last once every other is
// stored, so that the last (the done count, which decides that a job is
// ended and is judged on the others) never counts while one of the others
// was refused. It returns each counter's value after its increment, -1 for
// a duplicate; on an error, some of them may have counted (sending them
// again with the same id counts none twice).
func (h *Handles) Incrs(ctx context.Context, jobID, id string, incs []Increment) ([]int64, error) {
	vals := make([]int64, len(incs))
	if len(incs) == 0 {
		return vals, nil
	}
	last := len(incs) - 1
	if err := h.incrsAtOnce(ctx, jobID, id, incs[:last], vals[:last]); err != nil {
		return nil, err
	}
	if err := h.incrsAtOnce(ctx, jobID, id, incs[last:], vals[last:]); err != nil {
		return nil, err
	}
	return vals, nil
}

// incrsAtOnce sends incs together and waits for all of them, writing each
// counter's value after its increment (-1 for a duplicate) into vals.
func (h *Handles) incrsAtOnce(ctx context.Context, jobID, id string, incs []Increment, vals []int64) error {
	futs := make([]jetstream.PubAckFuture, len(incs))
	for i, inc := range incs {
		msg := nats.NewMsg(contracts.CounterSubject(jobID, inc.Counter))
		msg.Header.Set("Nats-Incr", strconv.FormatInt(inc.N, 10))
		msg.Header.Set(jetstream.MsgIDHeader, jobID+"."+inc.Counter+"."+id)
		f, err := h.JS.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("counter %s of job %s: %w", inc.Counter, jobID, err)
		}
		futs[i] = f
	}
	// Every future is waited for, so that none is left behind on an error.
	var first error
	for i, f := range futs {
		var ack *jetstream.PubAck
		select {
		case ack = <-f.Ok():
		case err := <-f.Err():
			first = cmp.Or(first, fmt.Errorf("counter %s of job %s: %w", incs[i].Counter, jobID, err))
			continue
		case <-ctx.Done():
			return fmt.Errorf("counter %s of job %s: %w", incs[i].Counter, jobID, ctx.Err())
		}
		if ack.Duplicate {
			vals[i] = -1
			continue
		}
		v, err := strconv.ParseInt(ack.Value, 10, 64)
		if err != nil {
			first = cmp.Or(first, fmt.Errorf("counter %s of job %s: bad value %q", incs[i].Counter, jobID, ack.Value))
			continue
		}
		vals[i] = v
	}
	return first
}

// Counter reads one of a job's counters (0 when never incremented).
func (h *Handles) Counter(ctx context.Context, jobID, counter string) (int64, error) {
	m, err := h.Counters.GetLastMsgForSubject(ctx, contracts.CounterSubject(jobID, counter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("counter %s of job %s: %w", counter, jobID, err)
	}
	var v struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(m.Data, &v); err != nil {
		return 0, fmt.Errorf("counter %s of job %s: %w", counter, jobID, err)
	}
	return strconv.ParseInt(v.Val, 10, 64)
}

// ReadCounters reads all of a job's counters.
func (h *Handles) ReadCounters(ctx context.Context, jobID string) (contracts.Counters, error) {
	var c contracts.Counters
	for _, f := range []struct {
		name string
		dst  *int64
	}{
		{contracts.CounterDone, &c.Done},
		{contracts.CounterFailedBatches, &c.FailedBatches},
		{contracts.CounterItemsSucceeded, &c.ItemsSucceeded},
		{contracts.CounterItemsFailed, &c.ItemsFailed},
		{contracts.CounterRetried, &c.Retried},
	} {
		v, err := h.Counter(ctx, jobID, f.name)
		if err != nil {
			return c, err
		}
		*f.dst = v
	}
	return c, nil
}
