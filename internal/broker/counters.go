package broker

import (
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

// CountOutcome adds what one recorded outcome counts (c) to its job's
// counters with one increment of the job's outcomes counter
// (contracts.CounterOutcomes), at most once per id within the dedup window,
// as Incr. It returns the outcomes counted with it (the legacy counters of
// an earlier version not included), and dup when the increment was a
// duplicate (then the counts are zero).
func (h *Handles) CountOutcome(ctx context.Context, jobID, id string, c contracts.OutcomeCounts) (counted contracts.OutcomeCounts, dup bool, err error) {
	v, err := c.Pack()
	if err != nil {
		return counted, false, fmt.Errorf("counting an outcome of job %s: %w", jobID, err)
	}
	msg := nats.NewMsg(contracts.CounterSubject(jobID, contracts.CounterOutcomes))
	msg.Header.Set("Nats-Incr", v.String())
	msg.Header.Set(jetstream.MsgIDHeader, jobID+"."+contracts.CounterOutcomes+"."+id)
	ack, err := h.JS.PublishMsg(ctx, msg)
	if err != nil {
		return counted, false, fmt.Errorf("counting an outcome of job %s: %w", jobID, err)
	}
	if ack.Duplicate {
		return counted, true, nil
	}
	counted, err = contracts.UnpackOutcomeCounts(ack.Value)
	if err != nil {
		return counted, false, fmt.Errorf("counting an outcome of job %s: %w", jobID, err)
	}
	return counted, false, nil
}

// Counter reads one of a job's counters (0 when never incremented). The
// counts of outcomes (done, failed batches, items) are read from the
// outcomes counter, plus the counter of that name that versions before it
// kept (so that a job counted partly by them still adds up).
func (h *Handles) Counter(ctx context.Context, jobID, counter string) (int64, error) {
	v, err := h.counter(ctx, jobID, counter)
	if err != nil || !isOutcomeCount(counter) {
		return v, err
	}
	c, err := h.outcomeCounts(ctx, jobID)
	if err != nil {
		return 0, err
	}
	switch counter {
	case contracts.CounterDone:
		return v + c.Done, nil
	case contracts.CounterFailedBatches:
		return v + c.FailedBatches, nil
	case contracts.CounterItemsFailed:
		return v + c.ItemsFailed, nil
	default:
		return v + c.ItemsSucceeded, nil
	}
}

func isOutcomeCount(counter string) bool {
	switch counter {
	case contracts.CounterDone, contracts.CounterFailedBatches, contracts.CounterItemsFailed, contracts.CounterItemsSucceeded:
		return true
	}
	return false
}

// LegacyCounter reads the counter of that name as versions before the
// outcomes counter kept it (0 for a job they did not count).
func (h *Handles) LegacyCounter(ctx context.Context, jobID, counter string) (int64, error) {
	return h.counter(ctx, jobID, counter)
}

// outcomeCounts reads the job's outcomes counter.
func (h *Handles) outcomeCounts(ctx context.Context, jobID string) (contracts.OutcomeCounts, error) {
	s, err := h.counterValue(ctx, jobID, contracts.CounterOutcomes)
	if err != nil || s == "" {
		return contracts.OutcomeCounts{}, err
	}
	c, err := contracts.UnpackOutcomeCounts(s)
	if err != nil {
		return c, fmt.Errorf("counter %s of job %s: %w", contracts.CounterOutcomes, jobID, err)
	}
	return c, nil
}

// counter reads one counter subject's value as an int64 (0 when never
// incremented).
func (h *Handles) counter(ctx context.Context, jobID, counter string) (int64, error) {
	s, err := h.counterValue(ctx, jobID, counter)
	if err != nil || s == "" {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("counter %s of job %s: %w", counter, jobID, err)
	}
	return v, nil
}

// counterValue reads one counter subject's value as the server writes it
// ("" when never incremented).
func (h *Handles) counterValue(ctx context.Context, jobID, counter string) (string, error) {
	m, err := h.Counters.GetLastMsgForSubject(ctx, contracts.CounterSubject(jobID, counter))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("counter %s of job %s: %w", counter, jobID, err)
	}
	var v struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(m.Data, &v); err != nil {
		return "", fmt.Errorf("counter %s of job %s: %w", counter, jobID, err)
	}
	return v.Val, nil
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
		v, err := h.counter(ctx, jobID, f.name)
		if err != nil {
			return c, err
		}
		*f.dst = v
	}
	o, err := h.outcomeCounts(ctx, jobID)
	if err != nil {
		return c, err
	}
	c.Done += o.Done
	c.FailedBatches += o.FailedBatches
	c.ItemsFailed += o.ItemsFailed
	c.ItemsSucceeded += o.ItemsSucceeded
	return c, nil
}
