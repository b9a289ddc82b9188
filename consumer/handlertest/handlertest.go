// Package handlertest is the conformance suite of consumer.Handler: what
// every handler (the entry-script handler, the ONNX handler, a new one)
// must do for the runtime, tested the same way for all of them. A
// handler's package runs it from its own tests:
//
//	func TestHandlerConformance(t *testing.T) {
//		handlertest.Run(t, func(t *testing.T) *consumer.JobEnv { ... }, handlertest.Caps{
//			Factory:   Factory(Options{}),
//			ErrClosed: ErrClosed,
//			Batch:     func(t *testing.T) (*consumer.Batch, int) { ... },
//			SlowBatch: func(t *testing.T) *consumer.Batch { ... },
//		})
//	}
//
// The suite covers the lifecycle (Close refuses later calls, twice is
// fine, a handler never started closes), the factory (it builds a handler
// that runs without Init; a canceled context builds nothing), and the ends
// of a Run's context (canceled before or during Run: context.Canceled and
// never consumer.ErrRunTimeout; a passed deadline: consumer.ErrRunTimeout;
// after either the handler runs again). Behaviour of one handler alone
// (rows, item errors, timeouts of its own) stays in its package's tests.
package handlertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
)

// Caps describe the handler under test to the suite.
type Caps struct {
	// Factory builds the handler from a JobEnv (required).
	Factory consumer.HandlerFactory
	// ErrClosed is what Init and Run return after Close (required).
	ErrClosed error
	// Batch returns a mini-batch that the handler runs successfully, and
	// how many rows it returns (required).
	Batch func(t *testing.T) (*consumer.Batch, int)
	// SlowBatch returns a mini-batch whose Run lasts far longer than
	// Deadline, unless its context ends (required).
	SlowBatch func(t *testing.T) *consumer.Batch
	// Deadline is how long a Run of SlowBatch gets before its context ends
	// (default 500ms).
	Deadline time.Duration
	// Within bounds each call the suite expects to succeed (default 2m).
	Within time.Duration
}

// Run runs the suite. newEnv returns a fresh JobEnv for one handler (its
// own folders), which the suite passes to caps.Factory; every handler the
// suite builds is closed when its test ends.
func Run(t *testing.T, newEnv func(t *testing.T) *consumer.JobEnv, caps Caps) {
	t.Helper()
	if caps.Factory == nil || caps.ErrClosed == nil || caps.Batch == nil || caps.SlowBatch == nil {
		t.Fatal("handlertest.Run: Caps needs Factory, ErrClosed, Batch and SlowBatch")
	}
	if caps.Deadline == 0 {
		caps.Deadline = 500 * time.Millisecond
	}
	if caps.Within == 0 {
		caps.Within = 2 * time.Minute
	}
	s := &suite{newEnv: newEnv, caps: caps}
	for _, tc := range []struct {
		name string
		test func(t *testing.T)
	}{
		{"FactoryRunsWithoutInit", s.factoryRunsWithoutInit},
		{"FactoryWithCanceledContext", s.factoryWithCanceledContext},
		{"CloseRefusesLaterCalls", s.closeRefusesLaterCalls},
		{"CloseNeverStarted", s.closeNeverStarted},
		{"EmptyBatch", s.emptyBatch},
		{"CanceledBeforeRun", s.canceledBeforeRun},
		{"CanceledDuringRun", s.canceledDuringRun},
		{"DeadlineDuringRun", s.deadlineDuringRun},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t)
		})
	}
}

type suite struct {
	newEnv func(t *testing.T) *consumer.JobEnv
	caps   Caps
}

// handler builds a handler through the factory, closed when t ends.
func (s *suite) handler(t *testing.T) consumer.Handler {
	t.Helper()
	h, err := s.caps.Factory(t.Context(), s.newEnv(t))
	if err != nil {
		t.Fatalf("Factory: %v", err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func (s *suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), s.caps.Within)
	t.Cleanup(cancel)
	return ctx
}

// runOK runs the handler's good batch and checks its rows.
func (s *suite) runOK(t *testing.T, h consumer.Handler, what string) {
	t.Helper()
	b, rows := s.caps.Batch(t)
	res, err := h.Run(s.ctx(t), b)
	if err != nil {
		t.Fatalf("%s: Run: %v", what, err)
	}
	if len(res.Rows) != rows {
		t.Fatalf("%s: %d rows, want %d", what, len(res.Rows), rows)
	}
}

func (s *suite) factoryRunsWithoutInit(t *testing.T) {
	s.runOK(t, s.handler(t), "a handler from the factory, without Init")
}

func (s *suite) factoryWithCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h, err := s.caps.Factory(ctx, s.newEnv(t))
	if h != nil {
		_ = h.Close()
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Factory with a canceled context: %v, %v; want context.Canceled", h, err)
	}
}

func (s *suite) closeRefusesLaterCalls(t *testing.T) {
	h := s.handler(t)
	if err := h.Init(s.ctx(t)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	s.runOK(t, h, "before Close")
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
	b, _ := s.caps.Batch(t)
	if _, err := h.Run(s.ctx(t), b); !errors.Is(err, s.caps.ErrClosed) {
		t.Errorf("Run after Close: %v, want %v", err, s.caps.ErrClosed)
	}
	if err := h.Init(s.ctx(t)); !errors.Is(err, s.caps.ErrClosed) {
		t.Errorf("Init after Close: %v, want %v", err, s.caps.ErrClosed)
	}
}

func (s *suite) closeNeverStarted(t *testing.T) {
	if err := s.handler(t).Close(); err != nil {
		t.Fatalf("Close of a handler never started: %v", err)
	}
}

func (s *suite) emptyBatch(t *testing.T) {
	b, _ := s.caps.Batch(t)
	b.Items, b.Paths = nil, []string{}
	res, err := s.handler(t).Run(s.ctx(t), b)
	if err != nil || len(res.Rows) != 0 || len(res.ItemErrors) != 0 {
		t.Fatalf("an empty mini-batch: %+v, %v; want nothing", res, err)
	}
}

func (s *suite) canceledBeforeRun(t *testing.T) {
	h := s.handler(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b, _ := s.caps.Batch(t)
	_, err := h.Run(ctx, b)
	if !errors.Is(err, context.Canceled) || errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("Run with a canceled context: %v; want context.Canceled and no ErrRunTimeout", err)
	}
	s.runOK(t, h, "after a canceled Run")
}

// canceledDuringRun cancels the context of a slow Run after Deadline: the
// cancel finds the handler in Init or in Run, and either way Run returns
// promptly with context.Canceled.
func (s *suite) canceledDuringRun(t *testing.T) {
	h := s.handler(t)
	if err := h.Init(s.ctx(t)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stop := time.AfterFunc(s.caps.Deadline, cancel)
	defer stop.Stop()
	_, err := h.Run(ctx, s.caps.SlowBatch(t))
	if !errors.Is(err, context.Canceled) || errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("Run canceled on its way: %v; want context.Canceled and no ErrRunTimeout", err)
	}
	s.runOK(t, h, "after a canceled Run")
}

func (s *suite) deadlineDuringRun(t *testing.T) {
	h := s.handler(t)
	if err := h.Init(s.ctx(t)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), s.caps.Deadline)
	defer cancel()
	_, err := h.Run(ctx, s.caps.SlowBatch(t))
	if !errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("Run past its deadline: %v; want consumer.ErrRunTimeout", err)
	}
	s.runOK(t, h, "after a Run past its deadline")
}
