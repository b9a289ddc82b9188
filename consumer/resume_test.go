package consumer_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// A job whose remaining messages were lost (a producer that died before
// publishing them) is resumed by submitting its id again: only the
// mini-batches without an outcome run again, and the rows are exact.
func TestResubmittingAJobResumesOnlyUnfinishedBatches(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 60)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slow := consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		time.Sleep(30 * time.Millisecond)
		return echo(nil)(ctx, bt)
	})
	w := b.worker(1, slow)
	id := producer.NewJobID()
	c := b.config(5)
	if _, err := b.prod.Submit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	before := b.stopAndLoseQueue(ctx, id, w, 3)
	if before.Done >= 12 {
		t.Fatalf("every batch finished before the stop (%d); the test needs a slower handler", before.Done)
	}

	var n calls
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		n.add(bt.Index)
		return echo(nil)(ctx, bt)
	}))
	sub, err := b.prod.Submit(ctx, id, c)
	if err != nil {
		t.Fatal(err)
	}
	if !sub.Resumed {
		t.Fatal("the second submit did not resume the job")
	}
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
	ran := 0
	for i := int64(0); i < 12; i++ {
		ran += n.get(i)
	}
	if want := 12 - int(before.Done); ran != want {
		t.Fatalf("the resumed job ran %d batches, want the %d unfinished ones", ran, want)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(60, nil))
	cs, _ := b.h.ReadCounters(ctx, id)
	if cs.Done != 12 || cs.ItemsSucceeded != 60 {
		t.Fatalf("counters %+v", cs)
	}
}

// A hard stop (the drain timeout passed) sends the running batch back at
// once, without spending a try, and another worker finishes it. The
// stopping worker's retry delay and the ack wait are an hour: only a
// hand-back at once lets the job end within the wait below.
func TestHardStopSendsTheRunningBatchBackWithoutSpendingATry(t *testing.T) {
	t.Parallel()
	b := newBundleAck(t, 3, time.Hour)
	started := make(chan struct{}, 1)
	w := b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return consumer.Result{}, ctx.Err()
	}), func(c *consumer.Config) { c.RetryBase, c.RetryMax = time.Hour, time.Hour })
	c := b.config(3)
	c.RunMaxTry = 1
	id := producer.NewJobID()
	if _, err := b.prod.Submit(context.Background(), id, c); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := w.Stop(ctx); err == nil {
		t.Fatal("Stop did not report the drain timeout")
	}
	b.worker(1, echo(nil))
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	st, err := b.ledger.Follow(wctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
	o, _, _, _ := b.ledger.Outcome(wctx, id, 0)
	if !o.OK || o.Attempt != 1 {
		t.Fatalf("outcome %+v: want success on attempt 1", o)
	}
}

// A worker that died between recording a batch's outcome and counting it,
// and a queue that lost the message: the resume publishes the batch again
// and the worker that takes it, on its first delivery of the new
// generation, counts the recorded outcome without running the batch (it
// ran it again before, the outcome then a duplicate).
func TestResumedBatchRecordedButNotCountedIsCountedNotRun(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := producer.NewJobID()
	c := b.config(1)
	if _, err := b.prod.Submit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	// Batch 1's outcome, recorded and never counted, its message lost.
	row := consumer.FormatRows([]json.RawMessage{json.RawMessage(`"f00001.txt"`)})
	if _, _, err := b.ledger.Record(ctx, id, contracts.BatchOutcome{Index: 1, Attempt: 1, Items: 1, Succeeded: 1, OK: true, Rows: row, Worker: "dead"}); err != nil {
		t.Fatal(err)
	}
	if err := b.h.Batches.Purge(ctx, jetstream.WithPurgeSubject(contracts.BatchSubject(id))); err != nil {
		t.Fatal(err)
	}
	var n calls
	inner := echo(nil)
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		n.add(bt.Index)
		return inner(ctx, bt)
	}))
	if sub, err := b.prod.Submit(ctx, id, c); err != nil || !sub.Resumed {
		t.Fatalf("resubmitting: %+v, %v", sub, err)
	}
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v, %v", st, err)
	}
	if n.get(0) != 1 || n.get(1) != 0 || n.get(2) != 1 {
		t.Fatalf("runs per batch %d %d %d; want batch 1 counted from its record, not run", n.get(0), n.get(1), n.get(2))
	}
	if cs, err := b.h.ReadCounters(ctx, id); err != nil || cs.Done != 3 || cs.ItemsSucceeded != 3 {
		t.Fatalf("counters %+v, %v", cs, err)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(3, nil))
}
