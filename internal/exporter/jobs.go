package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// jobWatch keeps every job's state from a watch on the bucket's state
// keys, started at the first scrape that finds the bucket and started
// again when it ends.
type jobWatch struct {
	js  jetstream.JetStream
	log *slog.Logger

	mu     sync.Mutex
	kv     jetstream.KeyValue
	w      jetstream.KeyWatcher
	ready  chan struct{} // closed once the watch has delivered every state
	done   chan struct{} // closed when the watch's goroutine returns
	byID   map[string]contracts.JobState
	closed bool
}

// states returns every job's state; none when the bucket does not exist.
func (w *jobWatch) states(ctx context.Context) (map[string]contracts.JobState, error) {
	ready, err := w.start(ctx)
	if err != nil || ready == nil {
		return nil, err
	}
	select {
	case <-ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("reading the jobs' states from %s: %w", contracts.JobBucket, ctx.Err())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]contracts.JobState, len(w.byID))
	for id, st := range w.byID {
		out[id] = st
	}
	return out, nil
}

// start opens the bucket and the watch when they are not open.
func (w *jobWatch) start(ctx context.Context) (chan struct{}, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, errors.New("exporter: closed")
	}
	if w.w != nil {
		return w.ready, nil
	}
	if w.kv == nil {
		kv, err := w.js.KeyValue(ctx, contracts.JobBucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, nil // never set up: no jobs
		}
		if err != nil {
			return nil, fmt.Errorf("kv %s: %w", contracts.JobBucket, err)
		}
		w.kv = kv
	}
	// The watch lives past this scrape: its subscription ends with the
	// context it was made with, so it gets one of its own.
	wctx, cancel := context.WithCancel(context.Background())
	kw, err := w.kv.Watch(wctx, contracts.StateWatchPattern)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watching %s in kv %s: %w", contracts.StateWatchPattern, contracts.JobBucket, err)
	}
	w.w = kw
	w.ready, w.done, w.byID = make(chan struct{}), make(chan struct{}), map[string]contracts.JobState{}
	go w.follow(kw, cancel, w.ready, w.done)
	return w.ready, nil
}

// follow applies the watch's entries until the watch ends.
func (w *jobWatch) follow(kw jetstream.KeyWatcher, cancel context.CancelFunc, ready, done chan struct{}) {
	defer close(done)
	defer cancel()
	initial := true
	for e := range kw.Updates() {
		if e == nil {
			if initial {
				initial = false
				close(ready)
			}
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(e.Key(), "job."), ".state")
		w.mu.Lock()
		if e.Operation() != jetstream.KeyValuePut {
			delete(w.byID, id)
		} else {
			var st contracts.JobState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				w.log.Warn("exporter: a job's state is not readable; left out", "key", e.Key(), "err", err)
			} else {
				w.byID[id] = st
			}
		}
		w.mu.Unlock()
	}
	// The watch ended (its connection closed or the bucket went away):
	// the next scrape starts another.
	w.mu.Lock()
	if w.w == kw {
		w.w = nil
	}
	w.mu.Unlock()
	if initial {
		close(ready)
	}
}

// nodeCount reads the node_count recorded in a job's spec.
func (w *jobWatch) nodeCount(ctx context.Context, id string) (n int, found bool, err error) {
	w.mu.Lock()
	kv := w.kv
	w.mu.Unlock()
	if kv == nil {
		return 0, false, nil
	}
	e, err := kv.Get(ctx, contracts.JobKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("job %s spec: %w", id, err)
	}
	var job contracts.Job
	if err := json.Unmarshal(e.Value(), &job); err != nil {
		w.log.Warn("exporter: a job's spec is not readable; node_count left out", "job", id, "err", err)
		return 0, true, nil
	}
	return job.Config.NodeCount, true, nil
}

// close stops the watch and waits for its goroutine.
func (w *jobWatch) close() {
	w.mu.Lock()
	w.closed = true
	kw, done := w.w, w.done
	w.w = nil
	w.mu.Unlock()
	if kw != nil {
		_ = kw.Stop()
		<-done
	}
}
