package consumer_test

import (
	"context"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// A mini-batch that reaches a worker after it began to drain (here: it went
// idle while its pull was waiting at the server) goes back at once,
// unstarted, and spends no try: another worker runs it on attempt 1. The
// draining worker's retry delay and the ack wait are an hour, so only a
// hand-back at once lets the job end within the wait.
func TestBatchPulledWhileDrainingGoesBackUnstarted(t *testing.T) {
	t.Parallel()
	b := newBundleAck(t, 2, time.Hour)
	ran := make(chan struct{}, 1)
	a := b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		ran <- struct{}{}
		return consumer.Result{}, nil
	}), func(c *consumer.Config) {
		c.PollWait = time.Hour // the pull waits at the server while the worker drains
		c.RetryBase, c.RetryMax = time.Hour, time.Hour
		c.IdleExit = 50 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-a.Idle():
	case <-ctx.Done():
		t.Fatal("the worker did not go idle")
	}
	for {
		info, err := b.h.Consumer.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.NumWaiting > 0 {
			break // the drained worker's pull still waits at the server
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := producer.NewJobID()
	if _, err := b.prod.Submit(ctx, id, b.config(2)); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-ran:
		t.Fatal("the draining worker ran the batch")
	default:
	}
	b.worker(1, echo(nil))
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
	o, _, _, _ := b.ledger.Outcome(ctx, id, 0)
	if !o.OK || o.Attempt != 1 {
		t.Fatalf("outcome %+v: want success on attempt 1", o)
	}
	if d, err := b.ledger.Deliveries(ctx, id, 0); err != nil || d.HandedBack != 1 {
		t.Fatalf("hand-backs %d (%v), want the draining worker's 1", d.HandedBack, err)
	}
}
