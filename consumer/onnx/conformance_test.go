package onnx

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/handlertest"
)

// TestHandlerConformance runs the suite every handler passes, with Run and
// through an I/O binding (onnx.io_binding, whose model runs cannot be
// stopped: a canceled or timed-out mini-batch stops between them); the slow
// mini-batch is the held-out digits fifty times over.
func TestHandlerConformance(t *testing.T) {
	t.Parallel()
	for _, bind := range []bool{false, true} {
		t.Run(fmt.Sprintf("io_binding %v", bind), func(t *testing.T) {
			t.Parallel()
			conformance(t, bind)
		})
	}
}

func conformance(t *testing.T, bind bool) {
	paths := digitPaths(expected(t))
	var many []string
	for range 50 {
		many = append(many, paths...)
	}
	env := func(t *testing.T) *consumer.JobEnv {
		b := setup(t)
		b.cfg.IOBinding = bind
		return b.env
	}
	handlertest.Run(t, env, handlertest.Caps{
		Factory:   Factory(Options{Library: testLibrary(t), Logger: slog.New(slog.DiscardHandler)}),
		ErrClosed: ErrClosed,
		Batch:     func(*testing.T) (*consumer.Batch, int) { return batch(paths[:3]...), 3 },
		SlowBatch: func(*testing.T) *consumer.Batch { return batch(many...) },
		Deadline:  20 * time.Millisecond,
	})
}
