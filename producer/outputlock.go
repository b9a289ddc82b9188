package producer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/outputlock"
)

// outputHold is a submit's hold on the job's output (internal/outputlock):
// taken before the first write to the output, renewed while the submit
// runs, kept once the job is recorded (its workers then renew and release
// it), and given back if the submit fails before that.
type outputHold struct {
	p     *Producer
	job   string
	out   objstore.Store
	lock  *outputlock.Lock
	made  []string // local folders the lock made, removed when it is given back
	stop  context.CancelFunc
	done  chan struct{}
	mu    sync.Mutex
	kept  bool
	ended bool
}

// holdOutput takes the output for jobID or explains who holds it.
func (p *Producer) holdOutput(ctx context.Context, jobID string, out objstore.Store) (*outputHold, error) {
	l := p.cfg.Ledger
	h := &outputHold{p: p, job: jobID, out: out}
	if lp, ok := out.(objstore.LocalPather); ok {
		if _, local := lp.LocalPath("x"); local {
			for dir := filepath.Join(out.URI(""), inputlist.OwnFolder); ; dir = filepath.Dir(dir) {
				if _, err := os.Stat(dir); err == nil || filepath.Dir(dir) == dir {
					break
				}
				h.made = append(h.made, dir)
			}
		}
	}
	lock, err := outputlock.Acquire(ctx, out, outputlock.Taker{
		Job: jobID, Owner: l.Worker,
		State: func(ctx context.Context, job string) (bool, bool, time.Time, error) {
			st, _, err := l.State(ctx, job)
			if errors.Is(err, broker.ErrNoJob) {
				return false, false, time.Time{}, nil
			}
			return err == nil, st.Terminal(), st.Finished, err
		},
	})
	if err != nil {
		if errors.Is(err, outputlock.ErrBusy) {
			return nil, &contracts.FieldError{Field: "output", Err: err}
		}
		return nil, &contracts.FieldError{Field: "output", Err: fmt.Errorf("taking the output %s for job %s: %w", out.URI(""), jobID, err)}
	}
	h.lock = lock
	var rctx context.Context
	rctx, h.stop = context.WithCancel(context.WithoutCancel(ctx))
	h.done = make(chan struct{})
	go h.renew(rctx)
	return h, nil
}

// renew keeps the hold while the submit lists, plans and publishes.
func (h *outputHold) renew(ctx context.Context) {
	defer close(h.done)
	next := h.lock.Record.Lease() / 4
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		n, err := outputlock.Renew(ctx, h.out, h.job, h.p.cfg.Ledger.Worker)
		if err != nil && ctx.Err() == nil {
			h.p.cfg.Logger.Warn("renewing the hold on the output", "job", h.job, "output", h.out.URI(""), "err", err)
		}
		next = n
	}
}

// keep is called once the job is recorded: the hold is the job's for good
// (its workers renew and release it). Records the taking superseded are
// deleted, and the logs of an earlier job are moved out of the way.
func (h *outputHold) keep(ctx context.Context) {
	h.mu.Lock()
	h.kept = true
	h.mu.Unlock()
	h.lock.Tidy(ctx, h.out)
	if !h.lock.Fresh {
		// The job took its own record over (a resume): the logs are its
		// own, also those of a run interrupted before its first overview.
		return
	}
	if err := h.moveEarlierLogs(ctx, h.lock.Previous, ""); err != nil {
		h.p.cfg.Logger.Warn("moving the earlier job's logs out of the output's logs/", "job", h.job, "err", err)
	}
}

// end stops the renewals at the end of the submit. A hold that was not
// kept is given back; a kept one whose job already ended is released.
func (h *outputHold) end(ctx context.Context) {
	if h == nil {
		return
	}
	h.mu.Lock()
	if h.ended {
		h.mu.Unlock()
		return
	}
	h.ended = true
	kept := h.kept
	h.mu.Unlock()
	h.stop()
	<-h.done
	ctx = context.WithoutCancel(ctx)
	if kept {
		if st, _, err := h.p.cfg.Ledger.State(ctx, h.job); err == nil && st.Terminal() {
			h.release(ctx)
		}
		return
	}
	if err := h.lock.Abandon(ctx, h.out); err != nil {
		h.p.cfg.Logger.Warn("giving the output back", "job", h.job, "output", h.out.URI(""), "err", err)
	}
	for _, dir := range h.made {
		_ = os.Remove(dir) // only if empty
	}
}

// release lets the output go (the job has ended).
func (h *outputHold) release(ctx context.Context) {
	if err := outputlock.Release(ctx, h.out, h.job); err != nil {
		h.p.cfg.Logger.Warn("releasing the output", "job", h.job, "output", h.out.URI(""), "err", err)
	}
}

// reused ends the hold of a job that returned an earlier job's output: the
// logs of a third job are moved away (the reused job's own stay, they
// describe the run that made the output), and the output is released.
func (h *outputHold) reused(ctx context.Context, sub *Submitted) {
	if sub == nil {
		return
	}
	h.mu.Lock()
	h.kept = true
	h.mu.Unlock()
	h.lock.Tidy(ctx, h.out)
	if err := h.moveEarlierLogs(ctx, h.lock.Previous, sub.State.ReusedFrom); err != nil {
		h.p.cfg.Logger.Warn("moving the earlier job's logs out of the output's logs/", "job", h.job, "err", err)
	}
	h.release(ctx)
}

// moveEarlierLogs moves the logs/ of an earlier job under
// .prs/<earlier job>/logs/, so that an output's logs are never a mix of
// two jobs. prev names the earlier job when the output's lock knew it;
// otherwise the overview's first line tells ("Job <id>: <state>"). The logs
// of this job, or of the job keep, stay.
func (h *outputHold) moveEarlierLogs(ctx context.Context, prev, keep string) error {
	const logs = inputlist.LogsFolder + "/"
	var keys []string
	if err := h.out.List(ctx, logs, func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil || len(keys) == 0 {
		return err
	}
	if prev == "" {
		prev = h.overviewJob(ctx)
	}
	if prev == h.job || (prev != "" && prev == keep) {
		return nil
	}
	if prev == "" {
		prev = "earlier-" + time.Now().UTC().Format("20060102-150405")
	}
	dst := inputlist.OwnFolder + "/" + prev + "/"
	for _, k := range keys {
		if err := objstore.Move(ctx, h.out, k, dst+k); err != nil {
			return err
		}
	}
	h.p.cfg.Logger.Info("moved the earlier job's logs out of the output's logs/", "earlier_job", prev,
		"to", h.out.URI(dst+logs), "objects", len(keys))
	return nil
}

// overviewJob reads the job id from the overview's first line.
func (h *outputHold) overviewJob(ctx context.Context) string {
	rc, err := h.out.Get(ctx, contracts.LogOverview)
	if err != nil {
		return ""
	}
	defer rc.Close()
	line, _ := bufio.NewReader(io.LimitReader(rc, 4<<10)).ReadString('\n') // the first line names the job; the rest is anyone's
	id, _, ok := strings.Cut(strings.TrimPrefix(line, "Job "), ":")
	if !ok || !strings.HasPrefix(line, "Job ") || contracts.ValidateJobID(id) != nil {
		return ""
	}
	return id
}
