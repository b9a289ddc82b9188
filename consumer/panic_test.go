package consumer_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/syncbuf"
)

// buggyMetrics panics where a Metrics with a bug would: Redelivery, which
// the slot calls before it learns anything of the batch, on every
// redelivery; Outcome, which it calls once the outcome is recorded, for the
// one mini-batch of two items. No real part panics on purpose, so a Metrics
// passed in the worker's config is the way to inject the fault outside the
// attempt.
type buggyMetrics struct {
	redeliveries, outcomes atomic.Int32
}

func (m *buggyMetrics) Redelivery() {
	m.redeliveries.Add(1)
	panic("metrics bug: redelivery")
}

func (m *buggyMetrics) Outcome(ok bool, succeeded, failed int) {
	if succeeded == 2 {
		m.outcomes.Add(1)
		panic("metrics bug: outcome")
	}
}

func (*buggyMetrics) Attempt(string, time.Duration) {}
func (*buggyMetrics) Init(time.Duration)            {}
func (*buggyMetrics) InFlight(int)                  {}
func (*buggyMetrics) Heartbeat()                    {}

// A panic outside the attempt counts as a hand-back: a mini-batch whose
// every redelivery panics fails once maxInfraFailures hand-backs are spent,
// with an outcome that names the panic, instead of going back for ever (the
// job did not end before the fix); a mini-batch whose handling panicked
// after its outcome was recorded is counted and acked once. The other rows
// are in the output exactly once, and the worker keeps serving.
func TestPanicOutsideTheAttemptEndsTheBatch(t *testing.T) {
	t.Parallel()
	b := newBundleAck(t, 8, 30*time.Second) // no redelivery but the ones the test makes
	m := &buggyMetrics{}
	var n calls
	var log syncbuf.Buffer
	inner := echo(nil)
	b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if n.add(bt.Index) == 1 && bt.Index == 1 {
			return consumer.Result{}, errors.New("first try fails") // its redeliveries panic
		}
		return inner(ctx, bt)
	}), func(c *consumer.Config) {
		c.Metrics = m
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := b.config(3) // batches of 3, 3 and 2 items
	c.RunMaxTry = 3
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.Done != 3 || cs.FailedBatches != 1 || cs.ItemsFailed != 3 || cs.ItemsSucceeded != 5 {
		t.Fatalf("state %+v, counters %+v; want completed with batch 1 failed", st, cs)
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 1)
	if err != nil || !ok || o.OK || o.ErrorType != "Panic" || !strings.Contains(o.Error, "the worker handling the mini-batch panicked: metrics bug: redelivery") {
		t.Fatalf("outcome of the batch whose redeliveries panic: %+v ok=%v err=%v", o, ok, err)
	}
	if got := m.redeliveries.Load(); got != 21 {
		t.Fatalf("%d redeliveries of batch 1 panicked; want 21 (20 hand-backs, then the batch fails)", got)
	}
	if n.get(0) != 1 || n.get(1) != 1 || n.get(2) != 1 || m.outcomes.Load() != 1 {
		t.Fatalf("calls per batch %d %d %d, outcomes of batch 2 %d; want 1 each", n.get(0), n.get(1), n.get(2), m.outcomes.Load())
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(8, func(s string) bool { return s >= "f00003" && s < "f00006" }))
	logged := log.String()
	if !strings.Contains(logged, "recovered from a panic handling a message") || !strings.Contains(logged, "panic_test.go") {
		t.Fatalf("the worker's log lacks the panic and its stack:\n%.2000s", logged)
	}
}

// heartbeatPanics panics on every heartbeat it is told of.
type heartbeatPanics struct{ beats atomic.Int32 }

func (m *heartbeatPanics) Heartbeat() {
	m.beats.Add(1)
	panic("metrics bug: heartbeat")
}
func (*heartbeatPanics) Outcome(bool, int, int)        {}
func (*heartbeatPanics) Attempt(string, time.Duration) {}
func (*heartbeatPanics) Init(time.Duration)            {}
func (*heartbeatPanics) InFlight(int)                  {}
func (*heartbeatPanics) Redelivery()                   {}

// A Metrics whose Heartbeat panics does not end the worker (the heartbeat
// runs on a goroutine of its own, which nothing recovered): the message is
// kept alive, the job completes, every row once.
func TestPanicOfAHeartbeatIsNotTheWorkersEnd(t *testing.T) {
	t.Parallel()
	b := newBundleAck(t, 2, time.Second) // a heartbeat every third of a second
	m := &heartbeatPanics{}
	inner := echo(nil)
	b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		time.Sleep(800 * time.Millisecond)
		return inner(ctx, bt)
	}), func(c *consumer.Config) { c.Metrics = m })
	_, st, cs := b.run(b.config(1))
	if st.State != contracts.StateCompleted || cs.Done != 2 {
		t.Fatalf("state %+v, counters %+v", st, cs)
	}
	if m.beats.Load() == 0 {
		t.Fatal("no heartbeat was sent: the test shows nothing")
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(2, nil))
}
