package consumer

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/retry"
)

// Worker is a fleet member: Slots loops, each pulling one mini-batch at a
// time from the shared work-queue consumer.
type Worker struct {
	cfg     Config
	workDir string
	tmpDir  bool

	ctx      context.Context // cancelled on a hard stop
	cancel   context.CancelFunc
	draining chan struct{}
	drainOne sync.Once
	wg       sync.WaitGroup // slots
	watchWG  sync.WaitGroup // the state watcher and the log keeper
	stopped  chan struct{}
	jobs     jobs
	watch    jetstream.KeyWatcher
	idle     idleState
	modelMu  sync.Mutex
	models   map[string]*sync.Mutex // one fetch per model hash at a time
}

// New validates cfg and returns a Worker that has not started.
func New(cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	w := &Worker{cfg: cfg, draining: make(chan struct{}), stopped: make(chan struct{})}
	w.idle.fired = make(chan struct{})
	w.jobs.w = w
	return w, nil
}

// Start begins pulling mini-batches. ctx bounds the start only; use Stop to
// end the worker.
func (w *Worker) Start(ctx context.Context) error {
	w.workDir = w.cfg.WorkDir
	if w.workDir == "" {
		d, err := os.MkdirTemp("", "prs-worker-")
		if err != nil {
			return err
		}
		w.workDir, w.tmpDir = d, true
	} else if err := os.MkdirAll(w.workDir, 0o755); err != nil {
		return err
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	watch, err := w.cfg.Ledger.B.Jobs.Watch(ctx, contracts.StateWatchPattern, jetstream.UpdatesOnly())
	if err != nil {
		w.cancel()
		return err
	}
	w.watch = watch
	w.watchWG.Add(3)
	go w.watchStates()
	go w.keepLogs()
	go w.sweep()
	w.idle.since = time.Now()
	if w.cfg.IdleExit > 0 {
		w.watchWG.Add(1)
		go w.watchIdle()
	}
	for i := 0; i < w.cfg.Slots; i++ {
		s := &slot{w: w, index: i, settleSlots: make(chan struct{}, settleDepth)}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			s.loop()
		}()
	}
	w.cfg.Logger.Info("worker started", "worker", w.cfg.Name, "slots", w.cfg.Slots)
	return nil
}

// watchStates cancels the in-flight batches of a job as soon as it stops,
// also while the worker drains, and notes the total of an open job (a prs
// watch window) once it is sealed.
func (w *Worker) watchStates() {
	defer w.watchWG.Done()
	for {
		select {
		case <-w.ctx.Done():
			return
		case e, ok := <-w.watch.Updates():
			if !ok {
				return
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st contracts.JobState
			if json.Unmarshal(e.Value(), &st) != nil {
				continue
			}
			id := strings.TrimSuffix(strings.TrimPrefix(e.Key(), "job."), ".state")
			if !st.Terminal() {
				if st.Sealed {
					w.jobs.sealed(id, st.TotalBatches)
				}
				continue
			}
			if jr := w.jobs.stop(id); jr != nil {
				w.watchWG.Add(1)
				go func() {
					defer w.watchWG.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					w.maintain(ctx, jr, true)
					w.releaseOutput(ctx, jr) // after the last writes to its logs
					if l := jr.log.Load(); l != nil {
						l.close()
						_ = os.RemoveAll(l.dir) // everything in it has been put
					}
				}()
			}
		}
	}
}

// keepLogs flushes the logs of the jobs being served every LogFlush and
// rewrites their overviews every OverviewEvery.
func (w *Worker) keepLogs() {
	defer w.watchWG.Done()
	t := time.NewTicker(min(w.cfg.LogFlush, w.cfg.OverviewEvery))
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
			for _, jr := range w.jobs.all() {
				ctx, cancel := context.WithTimeout(w.ctx, w.cfg.LogFlush*4)
				w.maintain(ctx, jr, false)
				cancel()
			}
		}
	}
}

// Stop drains the worker: it stops pulling, lets in-flight batches finish
// until ctx is done, then stops them (their messages come back without
// spending a try), closes the handlers and removes its temporary folder.
func (w *Worker) Stop(ctx context.Context) error {
	w.drainOne.Do(func() { close(w.draining) })
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		w.cancel()
		<-done
	}
	w.cancel()
	w.watchWG.Wait()
	lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
	for _, jr := range w.jobs.closeAll() {
		w.maintain(lctx, jr, false)
		w.flushLast(lctx, jr)
	}
	lcancel()
	if w.watch != nil {
		_ = w.watch.Stop()
	}
	if w.tmpDir {
		_ = os.RemoveAll(w.workDir)
	}
	select {
	case <-w.stopped:
	default:
		close(w.stopped)
	}
	w.cfg.Logger.Info("worker stopped", "worker", w.cfg.Name)
	return err
}

// flushLast puts what the job's logs hold and LogFlush's interval left
// unput (the attempts a drain stopped among them), then closes them: the
// job's report is whole without the worker.
func (w *Worker) flushLast(ctx context.Context, jr *jobRun) {
	l := jr.log.Load()
	if l == nil {
		return
	}
	if !jr.hold.isLost() {
		if err := l.flush(ctx); err != nil {
			w.cfg.Logger.Warn("flushing the job's logs as the worker stops", "job", jr.job.ID, "err", err)
		}
	}
	l.close()
}

// Stopped is closed when Stop has finished.
func (w *Worker) Stopped() <-chan struct{} { return w.stopped }

func (w *Worker) isDraining() bool {
	select {
	case <-w.draining:
		return true
	default:
		return false
	}
}

// Per-call time limits of retryBroker.
const (
	opTimeout    = 10 * time.Second // a KV read or write, a counter increment
	writeTimeout = 5 * time.Minute  // putting a batch's rows
)

// retryBroker retries op through broker and storage outages until it
// succeeds, fails permanently (retry.IsPermanent), ctx ends or BrokerRetry
// passes; each call gets timeout (none when 0). ops must be idempotent.
func (w *Worker) retryBroker(ctx context.Context, what string, timeout time.Duration, op func(context.Context) error) error {
	p := retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, MaxElapsed: w.cfg.BrokerRetry}
	return retry.Do(ctx, p, retry.Options{
		Timeout: timeout,
		Notify: func(err error, _ int, wait time.Duration) {
			w.cfg.Logger.Warn("retrying", "what", what, "err", err, "in", wait)
		},
	}, op)
}

// retryPolicy shapes the delay before a failed attempt comes back (and a
// handed-back delivery): from RetryBase, doubling, to RetryMax, ±20%.
func (w *Worker) retryPolicy() retry.Policy {
	return retry.Policy{Initial: w.cfg.RetryBase, Max: w.cfg.RetryMax, Multiplier: 2, Jitter: 0.2}
}
