package consumer_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// heldMetrics holds the ack of the first mini-batch whose outcome is
// recorded (Outcome is called between recording and counting it) until
// release is closed.
type heldMetrics struct {
	once    sync.Once
	held    chan struct{}
	release chan struct{}
}

func (m *heldMetrics) Outcome(bool, int, int) {
	first := false
	m.once.Do(func() { first = true })
	if first {
		close(m.held)
		<-m.release
	}
}

func (*heldMetrics) Attempt(string, time.Duration) {}
func (*heldMetrics) Init(time.Duration)            {}
func (*heldMetrics) InFlight(int)                  {}
func (*heldMetrics) Heartbeat()                    {}
func (*heldMetrics) Redelivery()                   {}

// A slot does not wait for a mini-batch's ack (record, count, ack): while
// the first one's ack is held, its one slot runs the next mini-batches;
// a worker told to stop then waits for the held ack, and every mini-batch
// is counted once (on the old code the slot waited for each ack, and ran
// none while it was held).
func TestSlotRunsTheNextMiniBatchWhileAnAckIsHeld(t *testing.T) {
	t.Parallel()
	b := newBundleAck(t, 6, 30*time.Second)
	m := &heldMetrics{held: make(chan struct{}), release: make(chan struct{})}
	ran := make(chan int64, 6)
	inner := echo(nil)
	w := b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		ran <- bt.Index
		return inner(ctx, bt)
	}), func(c *consumer.Config) { c.Metrics = m })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := b.prod.Submit(ctx, "", b.config(1))
	if err != nil {
		t.Fatal(err)
	}
	<-m.held
	// The slot goes on: three more mini-batches run while the first ack is held.
	wait := time.After(15 * time.Second)
	for i := 0; i < 4; i++ {
		select {
		case <-ran:
		case <-wait:
			close(m.release)
			t.Fatalf("%d mini-batches ran while an ack was held; want 4 (the held one and three more)", i)
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- w.Stop(ctx) }()
	select {
	case err := <-stopped:
		t.Fatalf("the worker stopped (%v) with an ack held behind its slot", err)
	case <-time.After(300 * time.Millisecond):
	}
	close(m.release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	// The acks behind the slot were done before it stopped: their batches
	// are counted, none twice.
	cs, err := b.h.ReadCounters(ctx, sub.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Done < 4 || cs.Done > 6 || cs.ItemsSucceeded != cs.Done {
		t.Fatalf("counters %+v after the stop; want the 4 to 6 mini-batches that ran counted once", cs)
	}
	// Another worker finishes the job: every row once.
	b.worker(2, echo(nil))
	st, err := b.ledger.Follow(ctx, sub.Job.ID, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v, %v", st, err)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(6, nil))
}
