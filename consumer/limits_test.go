package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/syncbuf"
)

// An exception message is the script's to choose: one of 9 MiB (more than
// the embedded server's largest message) is cut in the outcome and the
// records, which say so, and the mini-batch is still recorded as failed.
func TestHugeErrorMessageIsCut(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 4)
	huge := strings.Repeat("é", 9<<19) // 9 MiB of two-byte runes
	inner := echo(nil)
	b.worker(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		if bt.Index == 1 {
			return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: huge}
		}
		return inner(ctx, bt)
	}))
	c := b.config(2)
	c.RunMaxTry = 1
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.FailedBatches != 1 || cs.ItemsFailed != 2 {
		t.Fatalf("state %+v, counters %+v", st, cs)
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 1)
	if err != nil || !ok || o.ErrorType != "ValueError" {
		t.Fatalf("outcome %+v ok=%v err=%v", o, ok, err)
	}
	if len(o.Error) > 17<<10 || !strings.HasPrefix(o.Error, "éé") || !strings.Contains(o.Error, "more bytes of the message cut)") || !strings.Contains(o.Error, "é...") {
		t.Fatalf("outcome's error of %d bytes: %.80q...%q", len(o.Error), o.Error, o.Error[max(0, len(o.Error)-80):])
	}
}

// A panic in a handler fails only its attempt, as an exception in run()
// would: the mini-batch is tried again per run_max_try, the other slot's
// mini-batches go on, the worker keeps serving, the stack goes to the
// worker's log and a short message to the user's error log. The handler is
// a HandlerFunc that panics: no real handler panics on purpose, so this is
// the one way to inject the fault.
func TestHandlerPanicFailsOnlyItsAttempt(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 20)
	var n calls
	inner := echo(nil)
	var log syncbuf.Buffer
	b.workerWith(2, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		switch try := n.add(bt.Index); {
		case bt.Index == 1 && try == 1:
			panic("decoder bug")
		case bt.Index == 2:
			var rows []json.RawMessage
			_ = rows[len(bt.Paths)] // a runtime error, every try
		}
		return inner(ctx, bt)
	}), func(c *consumer.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&log, nil))
	})
	c := b.config(5)
	c.RunMaxTry = 3
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.FailedBatches != 1 || cs.ItemsFailed != 5 || cs.Done != 4 {
		t.Fatalf("state %+v, counters %+v", st, cs)
	}
	if n.get(1) != 2 || n.get(2) != 3 || n.get(0) != 1 || n.get(3) != 1 {
		t.Fatalf("calls per batch: %d %d %d %d", n.get(0), n.get(1), n.get(2), n.get(3))
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 2)
	want := "the handler's Run panicked: runtime error: index out of range [5] with length 0"
	if err != nil || !ok || o.ErrorType != "Panic" || !strings.Contains(o.Error, want) {
		t.Fatalf("outcome of the panicking batch %+v ok=%v err=%v", o, ok, err)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(20, func(s string) bool { return s >= "f00010" && s < "f00015" }))
	logged := log.String()
	if !strings.Contains(logged, "recovered from a panic") || !strings.Contains(logged, "panic=\"decoder bug\"") || !strings.Contains(logged, "limits_test.go") {
		t.Fatalf("the worker's log lacks the panic and its stack:\n%s", logged)
	}
	if summary := b.waitFor(contracts.LogErrorSummary, "Panic: "+want); strings.Contains(summary, "goroutine ") {
		t.Fatalf("%s shows the stack:\n%s", contracts.LogErrorSummary, summary)
	}
}

// panicky is a handler whose Init panics on its first call and whose Run
// panics on the file f00003.txt: the faults a real handler would have from
// a bug, injected.
type panicky struct {
	inits, closes atomic.Int32
}

func (p *panicky) Init(context.Context) error {
	if p.inits.Add(1) == 1 {
		panic("init bug")
	}
	return nil
}

func (p *panicky) Run(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
	for _, path := range b.Paths {
		if strings.HasSuffix(path, "f00003.txt") {
			panic(fmt.Errorf("cannot decode %s", filepath.Base(path)))
		}
	}
	return echo(nil)(ctx, b)
}

func (p *panicky) Close() error { p.closes.Add(1); return nil }

// A panic in Init fails the attempt like an exception in init(), and a panic
// in Run during isolate_failures fails only its part: the item that panics
// alone fails, the handler is closed and opened again after each panic.
func TestHandlerPanicInInitAndIsolation(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 10)
	h := &panicky{}
	b.worker(1, h)
	c := b.config(5)
	c.RunMaxTry, c.IsolateFailures = 2, true
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.ItemsFailed != 1 || cs.ItemsSucceeded != 9 {
		t.Fatalf("state %+v, counters %+v", st, cs)
	}
	o, _, ok, err := b.ledger.Outcome(context.Background(), id, 0)
	if err != nil || !ok || o.Failed != 1 || !strings.Contains(o.Error, "f00003.txt: Panic: the handler's Run panicked: cannot decode f00003.txt") {
		t.Fatalf("outcome of mini-batch 0: %+v ok=%v err=%v", o, ok, err)
	}
	sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(10, func(s string) bool { return s == "f00003.txt" }))
	if h.closes.Load() < 2 {
		t.Fatalf("the handler was closed %d times, want once after each panic at least", h.closes.Load())
	}
}
