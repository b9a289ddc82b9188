package entryscript

import (
	"log/slog"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/handlertest"
)

// TestHandlerConformance runs the suite every handler passes.
func TestHandlerConformance(t *testing.T) {
	t.Parallel()
	const script = `
import time

def run(mini_batch):
    if mini_batch and mini_batch[0] == "/hang":
        time.sleep(1000)
    return mini_batch
`
	handlertest.Run(t, func(t *testing.T) *consumer.JobEnv { return setup(t, script).env }, handlertest.Caps{
		Factory:   Factory(Options{Logger: slog.New(slog.DiscardHandler)}),
		ErrClosed: ErrClosed,
		Batch:     func(*testing.T) (*consumer.Batch, int) { return batch("/a", "/b"), 2 },
		SlowBatch: func(*testing.T) *consumer.Batch { return batch("/hang") },
		Deadline:  time.Second,
	})
}
