package onnx

import (
	"log/slog"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/handlertest"
)

// TestHandlerConformance runs the suite every handler passes; the slow
// mini-batch is the held-out digits fifty times over.
func TestHandlerConformance(t *testing.T) {
	t.Parallel()
	paths := digitPaths(expected(t))
	var many []string
	for range 50 {
		many = append(many, paths...)
	}
	handlertest.Run(t, func(t *testing.T) *consumer.JobEnv { return setup(t).env }, handlertest.Caps{
		Factory:   Factory(Options{Library: testLibrary(t), Logger: slog.New(slog.DiscardHandler)}),
		ErrClosed: ErrClosed,
		Batch:     func(*testing.T) (*consumer.Batch, int) { return batch(paths[:3]...), 3 },
		SlowBatch: func(*testing.T) *consumer.Batch { return batch(many...) },
		Deadline:  20 * time.Millisecond,
	})
}
