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
