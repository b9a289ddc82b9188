package consumer_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// reportRows waits until the job report under the bundle's output has a
// row for the counted attempt of each of batches mini-batches, and returns
// the rows of each mini-batch as "attempt/result", in report order.
func (b *bundle) reportRows(batches int) map[int64][]string {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, counted := b.readReport()
		if counted == batches {
			return rows
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the report has counted rows for %d mini-batches, want %d: %v", counted, batches, rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *bundle) readReport() (map[int64][]string, int) {
	f, err := os.Open(filepath.Join(b.output, contracts.LogReport))
	if err != nil {
		return nil, 0
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) == 0 {
		return nil, 0
	}
	rows, counted := map[int64][]string{}, 0
	for _, r := range recs[1:] { // mini_batch, attempt, ..., result (11th)
		var i int64
		fmt.Sscan(r[0], &i)
		rows[i] = append(rows[i], r[1]+"/"+r[10])
		if contracts.Counts(r[10]) {
			counted++
		}
	}
	return rows, counted
}

// named gives a worker its own name (its own log files), as every worker
// process has.
func named(name string) func(*consumer.Config) {
	return func(c *consumer.Config) { c.Name = name }
}

// attempts records the attempt number each handler call was given.
type attempts struct {
	mu sync.Mutex
	m  map[int64][]int
}

func (a *attempts) add(bt *consumer.Batch) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[int64][]int{}
	}
	a.m[bt.Index] = append(a.m[bt.Index], bt.Attempt)
	return len(a.m[bt.Index])
}

func (a *attempts) of(i int64) []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.m[i])
}

// A resumed job's batches go on counting their tries from where the earlier
// generation left them: a batch that failed its first try before the stop
// runs its second try after the resume (not a first one again), and the
// report lists each try once, under its true number.
func TestResumeCountsTheTriesOfEarlierGenerations(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got attempts
	failing := consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		got.add(bt)
		return consumer.Result{}, &consumer.ScriptError{Type: "RuntimeError", Message: "first try fails"}
	})
	// The retry would come back in a minute: the worker stops before.
	w := b.workerWith(2, failing, func(c *consumer.Config) { c.Name, c.RetryBase, c.RetryMax = "w1", time.Minute, time.Minute })
	id := producer.NewJobID()
	c := b.config(1)
	if _, err := b.prod.Submit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	for {
		cs, err := b.h.ReadCounters(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Retried == 4 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	b.workerWith(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		got.add(bt)
		return echo(nil)(ctx, bt)
	}), named("w2"))
	if sub, err := b.prod.Submit(ctx, id, c); err != nil || !sub.Resumed {
		t.Fatalf("resubmitting: %+v, %v", sub, err)
	}
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
	rows := b.reportRows(4)
	for i := int64(0); i < 4; i++ {
		if a := got.of(i); !slices.Equal(a, []int{1, 2}) {
			t.Errorf("batch %d ran as attempts %v, want [1 2]", i, a)
		}
		o, _, _, err := b.ledger.Outcome(ctx, id, i)
		if err != nil || o.Attempt != 2 || !o.OK {
			t.Errorf("batch %d: outcome %+v err %v, want success on attempt 2", i, o, err)
		}
		if want := []string{"1/retried", "2/succeeded"}; !slices.Equal(rows[i], want) {
			t.Errorf("batch %d: report rows %q, want %q", i, rows[i], want)
		}
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(4, nil))
}

// A batch sent back by a worker stopped mid-attempt spends no try, also
// across a resume: the report has its transient row, then the same try
// again, and the records of the stopped worker are all there.
func TestHardStopThenResumeReportsTheTransientTry(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started := make(chan struct{}, 3)
	w := b.workerWith(3, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		started <- struct{}{}
		<-ctx.Done()
		return consumer.Result{}, ctx.Err()
	}), named("w1"))
	id := producer.NewJobID()
	c := b.config(1)
	c.RunMaxTry = 1
	if _, err := b.prod.Submit(ctx, id, c); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		<-started
	}
	sctx, scancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer scancel()
	if err := w.Stop(sctx); err == nil {
		t.Fatal("Stop did not report the drain timeout")
	}
	var got attempts
	b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		got.add(bt)
		return echo(nil)(ctx, bt)
	}), named("w2"))
	if sub, err := b.prod.Submit(ctx, id, c); err != nil || !sub.Resumed {
		t.Fatalf("resubmitting: %+v, %v", sub, err)
	}
	st, err := b.ledger.Follow(ctx, id, 20*time.Millisecond, nil)
	if err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("state %+v err %v", st, err)
	}
	rows := b.reportRows(3)
	for i := int64(0); i < 3; i++ {
		if a := got.of(i); !slices.Equal(a, []int{1}) {
			t.Errorf("batch %d ran as attempts %v after the resume, want [1]", i, a)
		}
		if want := []string{"1/transient", "1/succeeded"}; !slices.Equal(rows[i], want) {
			t.Errorf("batch %d: report rows %q, want %q", i, rows[i], want)
		}
	}
	summary := filepath.Join(b.output, contracts.LogErrorSummary)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		errs, err := os.ReadFile(summary)
		if err == nil && strings.Contains(string(errs), "3 x WorkerStopped") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("error summary (%v):\n%s", err, errs)
		}
	}
}
