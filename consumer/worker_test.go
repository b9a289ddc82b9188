package consumer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echo returns each file's base name as a row, except those skip says.
func echo(skip func(name string) bool) consumer.HandlerFunc {
	return func(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
		var r consumer.Result
		for _, p := range b.Paths {
			name := filepath.Base(p)
			if skip != nil && skip(name) {
				continue
			}
			j, _ := json.Marshal(name)
			r.Rows = append(r.Rows, j)
		}
		return r, nil
	}
}

func expectedRows(n int, skip func(string) bool) []string {
	var out []string
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("f%05d.txt", i)
		if skip == nil || !skip(name) {
			out = append(out, name)
		}
	}
	return out
}

func sameRows(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestRowsExactlyOnceInOrderAcrossWorkers(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 300)
	b.worker(3, echo(nil))
	b.worker(2, echo(nil))
	_, st, c := b.run(b.config(7))
	if st.State != contracts.StateCompleted {
		t.Fatalf("state %s: %s", st.State, st.Reason)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(300, nil))
	if c.Done != 43 || st.TotalBatches != 43 || c.ItemsSucceeded != 300 || c.ItemsFailed != 0 {
		t.Fatalf("counters %+v, state %+v", c, st)
	}
}

func TestPartialReturnsAndThresholdBoundary(t *testing.T) {
	t.Parallel()
	skip := func(name string) bool { return strings.HasSuffix(name, "3.txt") } // 10 of 100
	for _, tc := range []struct {
		threshold int
		want      string
	}{{10, contracts.StateCompleted}, {9, contracts.StateFailed}} {
		t.Run(fmt.Sprint(tc.threshold), func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, 100)
			b.worker(2, echo(skip))
			c := b.config(10)
			c.ErrorThreshold = tc.threshold
			_, st, cs := b.run(c)
			if st.State != tc.want {
				t.Fatalf("threshold %d: state %s (%s), want %s", tc.threshold, st.State, st.Reason, tc.want)
			}
			if tc.want == contracts.StateCompleted {
				if cs.ItemsFailed != 10 || cs.ItemsSucceeded != 90 || cs.FailedBatches != 10 {
					t.Fatalf("counters %+v", cs)
				}
				sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(100, skip))
			} else if !strings.Contains(st.Reason, "error_threshold") {
				t.Fatalf("reason %q does not name error_threshold", st.Reason)
			}
		})
	}
}

func TestFailedAttemptRetriedAfterDelay(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 30)
	var n calls
	inner := echo(nil)
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if n.add(bt.Index) == 1 {
			return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: "first try fails"}
		}
		if bt.Attempt != 2 {
			return consumer.Result{}, fmt.Errorf("attempt %d, want 2", bt.Attempt)
		}
		return inner(ctx, bt)
	}))
	_, st, c := b.run(b.config(10))
	if st.State != contracts.StateCompleted || c.Retried != 3 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(30, nil))
}

func TestAlwaysFailingBatchTriedExactlyRunMaxTry(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 20)
	var n calls
	inner := echo(nil)
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		n.add(bt.Index)
		if bt.Index == 1 {
			return consumer.Result{}, &consumer.ScriptError{Type: "RuntimeError", Message: "always"}
		}
		return inner(ctx, bt)
	}))
	c := b.config(5)
	c.RunMaxTry = 4
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted {
		t.Fatalf("state %+v", st)
	}
	if got := n.get(1); got != 4 {
		t.Fatalf("batch 1 ran %d times, want run_max_try 4", got)
	}
	if cs.FailedBatches != 1 || cs.ItemsFailed != 5 || cs.Retried != 3 {
		t.Fatalf("counters %+v", cs)
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 1)
	if err != nil || !ok || o.ErrorType != "RuntimeError" || o.Attempt != 4 {
		t.Fatalf("outcome %+v ok=%v err=%v", o, ok, err)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(20, func(s string) bool { return s >= "f00005" && s < "f00010" }))
}

func TestTransientErrorsDoNotSpendTries(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 10)
	var n calls
	inner := echo(nil)
	b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if n.add(bt.Index) <= 3 {
			return consumer.Result{}, &consumer.TransientError{Err: errors.New("503 SlowDown")}
		}
		return inner(ctx, bt)
	}))
	c := b.config(5)
	c.RunMaxTry = 1
	_, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.ItemsFailed != 0 || cs.Retried != 0 {
		t.Fatalf("state %+v counters %+v", st, cs)
	}
	if n.get(0) != 4 {
		t.Fatalf("batch 0 ran %d times, want 4", n.get(0))
	}
}

func TestThresholdAbortStopsInFlightAndRemainingBatches(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 50)
	var stopped atomic.Bool
	var ran atomic.Int64
	b.worker(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		ran.Add(1)
		switch bt.Index {
		case 0: // blocks until the job is stopped
			<-ctx.Done()
			stopped.Store(true)
			return consumer.Result{}, ctx.Err()
		case 1:
			return consumer.Result{}, &consumer.ScriptError{Type: "RuntimeError", Message: "boom"}
		}
		time.Sleep(20 * time.Millisecond)
		return echo(nil)(ctx, bt)
	}))
	c := b.config(1)
	c.RunMaxTry = 1
	c.AllowedFailedCount = 0
	_, st, _ := b.run(c)
	if st.State != contracts.StateFailed || !strings.Contains(st.Reason, "allowed_failed_count") {
		t.Fatalf("state %+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !stopped.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !stopped.Load() {
		t.Fatal("the in-flight batch was not stopped")
	}
	if n := ran.Load(); n >= 50 {
		t.Fatalf("%d of 50 batches ran after the abort", n)
	}
}

// allowed_failed_percent is judged at run time against the job's total of
// mini-batches: 3 failed of 10 is 30%, tolerated at 30 and failing the job
// at 20 (before its last batches run).
func TestAllowedFailedPercentAtRunTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		percent float64
		want    string
	}{{30, contracts.StateCompleted}, {20, contracts.StateFailed}} {
		t.Run(fmt.Sprint(tc.percent), func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, 10)
			failing := func(i int64) bool { return i == 0 || i == 1 || i == 2 }
			b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
				if failing(bt.Index) {
					return consumer.Result{}, &consumer.ScriptError{Type: "RuntimeError", Message: "boom"}
				}
				return echo(nil)(ctx, bt)
			}))
			c := b.config(1)
			c.RunMaxTry = 1
			c.AllowedFailedPercent = tc.percent
			_, st, cs := b.run(c)
			if st.State != tc.want {
				t.Fatalf("allowed_failed_percent %v: state %s (%s), want %s; counters %+v", tc.percent, st.State, st.Reason, tc.want, cs)
			}
			if tc.want == contracts.StateFailed {
				if !strings.Contains(st.Reason, "3 of 10 mini-batches failed (30.0%), above allowed_failed_percent 20") {
					t.Fatalf("reason %q", st.Reason)
				}
				if cs.Done == 10 {
					t.Fatalf("the job failed only after every batch ran: counters %+v", cs)
				}
				return
			}
			if cs.FailedBatches != 3 || cs.ItemsSucceeded != 7 {
				t.Fatalf("counters %+v", cs)
			}
			sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(10, func(s string) bool { return s < "f00003" }))
		})
	}
}

// run() returning more rows than it got files counts each file once: the
// extra rows are kept in the output, noted in the batch's outcome, its
// attempt record and the error summary, and never counted as items.
func TestExtraRowsAreKeptButNotCounted(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 10)
	twice := consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		r, err := echo(nil)(ctx, bt)
		var doubled consumer.Result
		for _, row := range r.Rows {
			doubled.Rows = append(doubled.Rows, row, row)
		}
		return doubled, err
	})
	b.workerWith(1, twice, func(c *consumer.Config) { c.LogFlush = 50 * time.Millisecond })
	id, st, cs := b.run(b.config(5))
	if st.State != contracts.StateCompleted || cs.ItemsSucceeded != 10 || cs.ItemsFailed != 0 || cs.FailedBatches != 0 {
		t.Fatalf("state %+v counters %+v: want 10 items succeeded, none failed", st, cs)
	}
	var want []string
	for _, name := range expectedRows(10, nil) {
		want = append(want, name, name)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), want)
	o, _, _, err := b.ledger.Outcome(context.Background(), id, 1)
	if err != nil || !o.OK || o.Succeeded != 5 || o.Failed != 0 || o.ErrorType != "ExtraRows" ||
		!strings.Contains(o.Error, "run() returned 10 rows for 5 items") {
		t.Fatalf("outcome %+v err %v", o, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		summary, _ := os.ReadFile(filepath.Join(b.output, contracts.LogErrorSummary))
		report, _ := os.ReadFile(filepath.Join(b.output, contracts.LogReport))
		if strings.Contains(string(summary), "2 x ExtraRows: run() returned 10 rows for 5 items") &&
			strings.Count(string(report), ",ExtraRows,") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the logs do not note the extra rows:\n%s\n%s", summary, report)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
