package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/parallelrun/prs/internal/broker"
)

// PanicError is a panic of the code that serves an attempt (a handler, the
// reader of a malformed input file) caught in its slot: the attempt fails
// as if the user's code had raised, spending a try, and the worker keeps
// serving. It unwraps to a *ScriptError of type "Panic" whose message is
// what the user's error log shows; the stack goes to the worker's own log.
type PanicError struct {
	// Where names what panicked ("the handler's Run").
	Where string
	// Value is what was passed to panic.
	Value any
	// Stack is the panicking goroutine's stack.
	Stack []byte
}

func (e *PanicError) Error() string { return e.script().Error() }

// Unwrap gives the *ScriptError the attempt's records and outcome hold.
func (e *PanicError) Unwrap() error { return e.script() }

func (e *PanicError) script() *ScriptError {
	return &ScriptError{Type: "Panic", Message: fmt.Sprintf("%s panicked: %v (a bug of prs or of the handler; the stack is in the worker's log)", e.Where, e.Value)}
}

// catchPanic, deferred, turns a panic into a *PanicError in *errp.
func catchPanic(where string, errp *error) {
	if v := recover(); v != nil {
		*errp = &PanicError{Where: where, Value: v, Stack: debug.Stack()}
	}
}

// logPanic logs a *PanicError with its stack; it reports whether err is one.
func logPanic(log *slog.Logger, err error, args ...any) bool {
	var pe *PanicError
	if !errors.As(err, &pe) {
		return false
	}
	log.Error("recovered from a panic: the attempt fails, the worker keeps serving",
		append(args, "where", pe.Where, "panic", fmt.Sprint(pe.Value), "stack", string(pe.Stack))...)
	return true
}

// recovered settles a delivery whose handling panicked outside the attempt
// (learning, deciding or carrying a decision out: a bug of prs, or of a
// Metrics or logger passed in), and the worker keeps serving. The panic
// counts as a hand-back, as a storage or broker error does (no try spent),
// so that a panic that comes back with every delivery fails the batch once
// maxInfraFailures hand-backs are spent (decide, kindPanic) instead of
// sending it back for ever. A batch whose outcome was recorded before the
// panic (counting it, acking) is counted and acked: Count counts it once
// whichever delivery does. The stack is logged once per panic.
func (s *slot) recovered(d *delivery, v any, closeHandler bool) {
	pe := &PanicError{Where: "the worker handling the mini-batch", Value: v, Stack: debug.Stack()}
	s.w.cfg.Logger.Error("recovered from a panic handling a message: it counts as a hand-back, the worker keeps serving",
		"slot", s.index, "subject", d.msg.Subject(), "job", d.mb.JobID, "batch", d.mb.Index,
		"panic", fmt.Sprint(v), "stack", string(pe.Stack))
	if closeHandler { // not from an ack behind the slot: the slot owns its handler
		s.closeHandler()
	}
	d.now = true
	defer func() {
		// Settling it panicked too: the message comes back, and its next
		// delivery settles it (an outcome recorded by now holds).
		if v := recover(); v != nil {
			s.w.cfg.Logger.Error("recovered from a panic settling a message that panicked: it goes back",
				"slot", s.index, "job", d.mb.JobID, "batch", d.mb.Index, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			_ = d.msg.NakWithDelay(panicDelay)
		}
	}()
	if d.mb.JobID == "" {
		// Not a mini-batch that a ledger record could be kept for.
		_ = d.msg.NakWithDelay(panicDelay)
		return
	}
	s.relearn(d, pe)
	s.execute(d, decide(d.f))
}

// panicDelay is how long a message whose handling panicked waits before it
// comes back when no hand-back of it could be counted.
const panicDelay = 5 * time.Second

// relearn reads again what the ledger knows of a batch whose handling
// panicked (the panic may have come before learn, or after the outcome was
// recorded): its job, its deliveries (noting this one) and its outcome. Its
// facts say that the delivery panicked, with pe.
func (s *slot) relearn(d *delivery, pe *PanicError) {
	w, l := s.w, s.w.cfg.Ledger
	f := facts{kind: kindPanic, err: pe, delivered: d.num, tried: d.f.tried, tally: Tally{Items: d.mb.ItemCount()}}
	err := w.retryBroker(w.ctx, "reading the batch after a panic", opTimeout, func(c context.Context) (err error) {
		if d.jr == nil {
			if d.jr, err = w.jobs.get(c, d.mb.JobID); err != nil {
				return err
			}
		}
		rec, err := l.Delivered(c, d.mb.JobID, d.mb.Index, d.mb.Generation, d.num)
		if err != nil {
			return err
		}
		f.delivered, f.infra = max(rec.Total(), d.num), rec.HandedBack
		d.held, d.rev, f.recorded, err = l.Outcome(c, d.mb.JobID, d.mb.Index)
		return err
	})
	switch {
	case errors.Is(err, broker.ErrNoJob):
		f.kind, f.err = kindUnknownJob, err
	case err != nil:
		f.kind, f.err = kindTransient, err
	case d.jr.stopped():
		f.kind, f.err = kindJobStopped, nil
	}
	if d.jr != nil {
		f.maxTry, f.isolate = d.jr.job.Config.RunMaxTry, d.jr.job.Config.IsolateFailures
	}
	d.f = f
}
