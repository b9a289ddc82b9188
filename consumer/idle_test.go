package consumer_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// A worker with IdleExit goes idle once the queue is empty for that long,
// never while it holds a mini-batch, even one that runs longer than
// IdleExit; every batch is done on its first try.
func TestIdleExitNeverWhileABatchRuns(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 6)
	const idle = 150 * time.Millisecond
	var whileHeld atomic.Int32
	// The job is queued before the worker starts: a worker started first
	// could go idle while a slow submit is still listing.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := b.prod.Submit(ctx, "", b.config(2))
	if err != nil {
		t.Fatal(err)
	}
	id := sub.Job.ID
	var w *consumer.Worker
	ready := make(chan struct{})
	w = b.workerWith(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		<-ready
		time.Sleep(3 * idle) // the script's work: longer than IdleExit
		select {
		case <-w.Idle():
			whileHeld.Add(1)
		default:
		}
		return echo(nil)(ctx, bt)
	}), func(c *consumer.Config) { c.IdleExit = idle })
	close(ready)
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("job %s did not end: %v (state %+v)", id, err, st)
	}
	cs, err := b.h.ReadCounters(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != contracts.StateCompleted || cs.Done != 3 || cs.Retried != 0 {
		t.Fatalf("state %+v counters %+v", st, cs)
	}
	select {
	case <-w.Idle():
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not go idle after the job")
	}
	if n := whileHeld.Load(); n != 0 {
		t.Fatalf("the worker went idle while %d batches ran", n)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := w.Stop(sctx); err != nil {
		t.Fatalf("Stop after idle: %v", err)
	}
	for i := int64(0); i < 3; i++ {
		if o, _, _, _ := b.ledger.Outcome(ctx, id, i); !o.OK || o.Attempt != 1 {
			t.Fatalf("batch %d: outcome %+v, want success on attempt 1", i, o)
		}
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(6, nil))
}

// A worker with nothing to do goes idle; a job submitted later is left for
// other workers, whole.
func TestIdleExitWithAnEmptyQueue(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	w := b.workerWith(1, echo(nil), func(c *consumer.Config) { c.IdleExit = 50 * time.Millisecond })
	select {
	case <-w.Idle():
	case <-time.After(30 * time.Second):
		t.Fatal("an idle worker did not go idle")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	id := producer.NewJobID()
	if _, err := b.prod.Submit(ctx, id, b.config(2)); err != nil {
		t.Fatal(err)
	}
	b.worker(1, echo(nil))
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
}

// IdleExit below zero is refused, naming the field.
func TestIdleExitNegativeIsRefused(t *testing.T) {
	b := newBundle(t, 0)
	_, err := consumer.New(consumer.Config{Ledger: b.ledger, Handlers: map[string]consumer.HandlerFactory{"test": nil}, IdleExit: -time.Second})
	if err == nil || !strings.Contains(err.Error(), "IdleExit") {
		t.Fatalf("err %v", err)
	}
}
