package consumer

import (
	"sync"
	"time"
)

// idleState tracks whether the worker holds a mini-batch and since when it
// has held none, for Config.IdleExit.
type idleState struct {
	mu    sync.Mutex
	busy  int           // slots holding a message
	since time.Time     // when the last message was released (or the start)
	fired chan struct{} // closed when the worker went idle
}

// took notes that a slot holds a message. It reports whether the worker is
// already draining: then the message goes back at once. The idle watcher
// starts a drain under the same lock, so a message is either taken before
// the worker went idle (and keeps it from going idle) or handed back.
func (w *Worker) took() (draining bool) {
	w.idle.mu.Lock()
	defer w.idle.mu.Unlock()
	w.idle.busy++
	return w.isDraining()
}

// released notes that a slot has settled its message.
func (w *Worker) released() {
	w.idle.mu.Lock()
	defer w.idle.mu.Unlock()
	w.idle.busy--
	w.idle.since = time.Now()
}

// watchIdle drains the worker once no slot has held a message for
// IdleExit, and closes Idle.
func (w *Worker) watchIdle() {
	defer w.watchWG.Done()
	t := time.NewTimer(w.cfg.IdleExit)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.draining:
			return
		case <-t.C:
		}
		if w.goIdle() {
			w.cfg.Logger.Info("no mini-batch to run; the worker stops", "worker", w.cfg.Name, "idle_exit", w.cfg.IdleExit)
			return
		}
		w.idle.mu.Lock()
		left := w.cfg.IdleExit - time.Since(w.idle.since)
		if w.idle.busy > 0 {
			left = w.cfg.IdleExit
		}
		w.idle.mu.Unlock()
		t.Reset(left)
	}
}

// goIdle starts the drain and closes Idle when no slot holds a message and
// none has for IdleExit.
func (w *Worker) goIdle() bool {
	w.idle.mu.Lock()
	defer w.idle.mu.Unlock()
	if w.idle.busy > 0 || time.Since(w.idle.since) < w.cfg.IdleExit {
		return false
	}
	w.drainOne.Do(func() { close(w.draining) })
	close(w.idle.fired)
	return true
}

// Idle is closed when the worker has stopped pulling because no mini-batch
// was available for Config.IdleExit; it never closes when IdleExit is 0.
// Call Stop then: no slot holds a mini-batch.
func (w *Worker) Idle() <-chan struct{} { return w.idle.fired }
