package consumer

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/outputlock"
)

// outputHold is a worker's share of its job's hold on the output
// (internal/outputlock): every worker that serves the job renews the hold
// while the job runs and releases it when the job ends.
type outputHold struct {
	mu   sync.Mutex
	next time.Time // when to renew next
	lost bool
}

func (h *outputHold) isLost() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// renewOutput renews the job's hold on its output when it is due. A job
// whose output another job has taken (its hold was not renewed within the
// lease) is failed: two jobs must not write one output.
func (w *Worker) renewOutput(ctx context.Context, jr *jobRun) {
	h := &jr.hold
	h.mu.Lock()
	due := !h.lost && !time.Now().Before(h.next)
	h.mu.Unlock()
	if !due || jr.stopped() {
		return
	}
	led := w.cfg.Ledger
	out, err := led.Stores.Open(ctx, jr.job.Config.Output)
	if err != nil {
		return
	}
	next, err := outputlock.Renew(ctx, out, jr.job.ID, w.cfg.Name)
	h.mu.Lock()
	h.next = time.Now().Add(next)
	h.mu.Unlock()
	var lost *outputlock.LostError
	switch {
	case errors.As(err, &lost):
		h.mu.Lock()
		h.lost = true
		h.mu.Unlock()
		reason := "lost its output to job " + lost.By.Job + ": its hold on " + lost.Output +
			" was not renewed within its lease (were all of its workers stopped?)"
		w.cfg.Logger.Error("the job's output was taken by another job; failing the job", "job", jr.job.ID, "by", lost.By.Job, "output", lost.Output)
		if _, err := led.Stop(ctx, jr.job.ID, contracts.StateFailed, reason); err != nil {
			w.cfg.Logger.Warn("failing the job", "job", jr.job.ID, "err", err)
		}
	case err != nil:
		w.cfg.Logger.Warn("renewing the job's hold on its output", "job", jr.job.ID, "err", err)
	}
}

// releaseOutput lets the output of an ended job go, after this worker's
// last writes to its logs, so that the next job may take it at once.
func (w *Worker) releaseOutput(ctx context.Context, jr *jobRun) {
	if jr.hold.isLost() {
		return
	}
	out, err := w.cfg.Ledger.Stores.Open(ctx, jr.job.Config.Output)
	if err == nil {
		err = outputlock.Release(ctx, out, jr.job.ID)
	}
	if err != nil {
		w.cfg.Logger.Warn("releasing the job's output", "job", jr.job.ID, "err", err)
	}
}
