package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// A mini-batch is committed in three steps, each safe to repeat:
//
//  1. its plan (items, digests, the window's totals with it) is written
//     under a key of this leader's term, and the watch's record names it
//     (compare-and-swap: a replica that lost the lead commits nothing);
//  2. the plan is applied: each item's seen key is written (the object
//     version is taken), the mini-batch is published under its message id,
//     the window's job grows to the plan's totals;
//  3. the record forgets the plan and the events are acked.
//
// A leader that dies anywhere leaves a record whose plans the next leader
// applies again before it takes any event (recover), and events that are
// delivered again and found taken. Closing a window is the same: the
// record moves to the next window and notes the seal, which is applied
// (the job sealed at the window's totals) and then forgotten.

// commit makes the pending items the window's next mini-batch.
func (w *Watch) commit(ctx context.Context) error {
	if len(w.pending) == 0 {
		return nil
	}
	start := time.Now()
	if w.st.Opened.IsZero() {
		if _, err := w.openWindow(ctx); err != nil {
			return err
		}
		w.log.Debug("window open timing", "window", w.st.Window, "took", time.Since(start).Round(time.Millisecond))
		w.st.Opened = w.firstAt
		if w.st.Opened.IsZero() {
			w.st.Opened = time.Now().UTC()
		}
	}
	plan := contracts.WatchPlan{
		Window: w.st.Window, JobID: contracts.WindowJobID(w.cfg.Name, w.st.Window), Index: w.st.Batches,
		Files: w.st.Files + int64(len(w.pending)), Batches: w.st.Batches + 1,
	}
	for _, t := range w.pending {
		plan.Items = append(plan.Items, t.item)
		plan.Digests = append(plan.Digests, t.digest)
	}
	w.st.Seq++
	key := contracts.WatchPlanKey(w.cfg.Name, w.st.Term, w.st.Seq)
	b, _ := json.Marshal(plan)
	if _, err := w.h.state.Put(ctx, key, b); err != nil {
		return fmt.Errorf("watch %s: writing the plan of batch %d of window %d: %w", w.cfg.Name, plan.Index, plan.Window, err)
	}
	w.st.Files, w.st.Batches = plan.Files, plan.Batches
	w.st.Plans = append(w.st.Plans, key)
	if err := w.save(ctx); err != nil {
		return err
	}
	if err := w.apply(ctx, key, plan); err != nil {
		return err
	}
	w.log.Debug("mini-batch commit timing", "window", plan.Window, "batch", plan.Index, "files", len(w.pending),
		"took", time.Since(start).Round(time.Millisecond))
	w.cfg.Metrics.Taken(w.cfg.Name, len(w.pending))
	for _, t := range w.pending {
		if w.known != nil {
			w.known[t.digest] = true // taken now: a later event of it is a duplicate
		}
	}
	w.pending = w.pending[:0]
	clear(w.pendingSet)
	w.ackHeld()
	// A window whose job has ended (a threshold failed it) takes no more
	// files: the next ones open the next window.
	if st, _, err := w.cfg.Ledger.State(ctx, plan.JobID); err == nil && st.Terminal() {
		w.log.Warn("the window's job has ended; closing the window", "window", plan.Window, "job", plan.JobID, "state", st.State, "reason", st.Reason)
		return w.closeWindow(ctx)
	}
	return nil
}

// apply carries out a committed plan, then forgets it.
func (w *Watch) apply(ctx context.Context, key string, plan contracts.WatchPlan) error {
	if err := w.markTaken(ctx, plan); err != nil {
		return err
	}
	mb := contracts.MiniBatch{JobID: plan.JobID, Index: plan.Index, Items: plan.Items}
	if err := w.cfg.Producer.PublishBatch(ctx, mb); err != nil {
		return err
	}
	if err := w.cfg.Ledger.GrowJob(ctx, plan.JobID, plan.Batches, plan.Files); err != nil {
		return err
	}
	w.st.Plans = slices.DeleteFunc(w.st.Plans, func(k string) bool { return k == key })
	if err := w.save(ctx); err != nil {
		return err
	}
	if err := w.h.state.Delete(ctx, key); err != nil {
		w.log.Warn("deleting an applied plan", "key", key, "err", err)
	}
	w.log.Debug("mini-batch published", "job", plan.JobID, "batch", plan.Index, "files", len(plan.Items))
	return nil
}

// markTaken writes the seen keys of a plan's items, several at a time (one
// after the other, each waits a round trip to JetStream).
func (w *Watch) markTaken(ctx context.Context, plan contracts.WatchPlan) error {
	const parallel = 16
	errs := make([]error, len(plan.Digests))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, d := range plan.Digests {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v := fmt.Appendf(nil, "%s %d %s", plan.JobID, plan.Index, plan.Items[i].Key)
			if _, err := w.h.seen.Put(ctx, contracts.WatchSeenKey(w.cfg.Name, d), v); err != nil {
				errs[i] = fmt.Errorf("watch %s: marking %s taken: %w", w.cfg.Name, plan.Items[i].Key, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// closeWindow commits the pending items, then closes the current window
// and seals its job; a window that holds nothing stays open.
func (w *Watch) closeWindow(ctx context.Context) error {
	start := time.Now()
	due, _ := w.deadline()
	if err := w.commit(ctx); err != nil {
		return err
	}
	if w.st.Files == 0 {
		w.firstAt = time.Time{}
		return nil
	}
	defer func() {
		w.log.Debug("window close timing", "window", w.st.Window-1, "late", start.Sub(due).Round(time.Millisecond),
			"took", time.Since(start).Round(time.Millisecond))
	}()
	seal := contracts.WindowSeal{Window: w.st.Window, JobID: contracts.WindowJobID(w.cfg.Name, w.st.Window), Files: w.st.Files, Batches: w.st.Batches}
	w.st.Seals = append(w.st.Seals, seal)
	w.st.Window++
	w.st.Opened, w.st.Files, w.st.Batches = time.Time{}, 0, 0
	w.firstAt = time.Time{}
	if err := w.save(ctx); err != nil {
		return err
	}
	return w.applySeal(ctx, seal)
}

// applySeal seals a closed window's job at its totals, then forgets the seal.
func (w *Watch) applySeal(ctx context.Context, seal contracts.WindowSeal) error {
	job, err := w.job(ctx, seal.JobID)
	if err != nil {
		return err
	}
	st, err := w.cfg.Ledger.SealJob(ctx, job, seal.Batches, seal.Files, nil)
	if err != nil {
		return fmt.Errorf("watch %s: sealing window %d: %w", w.cfg.Name, seal.Window, err)
	}
	w.st.Seals = slices.DeleteFunc(w.st.Seals, func(s contracts.WindowSeal) bool { return s.Window == seal.Window })
	if err := w.save(ctx); err != nil {
		return err
	}
	delete(w.jobs, seal.JobID)
	w.log.Info("window closed", "window", seal.Window, "job", seal.JobID, "files", seal.Files, "mini_batches", seal.Batches, "state", st.State)
	return nil
}

// recover applies the plans and seals that the record names: a leader
// died before it had carried them out.
func (w *Watch) recover(ctx context.Context) error {
	for _, key := range slices.Clone(w.st.Plans) {
		e, err := w.h.state.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			w.st.Plans = slices.DeleteFunc(w.st.Plans, func(k string) bool { return k == key })
			continue
		}
		if err != nil {
			return fmt.Errorf("watch %s: reading plan %s: %w", w.cfg.Name, key, err)
		}
		var plan contracts.WatchPlan
		if err := json.Unmarshal(e.Value(), &plan); err != nil {
			return fmt.Errorf("watch %s: plan %s: %w", w.cfg.Name, key, err)
		}
		w.log.Info("publishing a mini-batch committed by an earlier leader", "job", plan.JobID, "batch", plan.Index)
		if err := w.apply(ctx, key, plan); err != nil {
			return err
		}
	}
	for _, seal := range slices.Clone(w.st.Seals) {
		if err := w.applySeal(ctx, seal); err != nil {
			return err
		}
	}
	return nil
}

// openWindow opens the current window's job and records the window.
func (w *Watch) openWindow(ctx context.Context) (*contracts.Job, error) {
	n := w.st.Window
	id := contracts.WindowJobID(w.cfg.Name, n)
	out := producer.JoinURI(w.cfg.Template.Config.Output, w.cfg.Name+"/"+contracts.WindowID(n))
	job, err := w.cfg.Producer.OpenWindow(ctx, w.cfg.Template, id, out, w.cfg.Name, n)
	if err != nil {
		return nil, fmt.Errorf("watch %s: opening window %d: %w", w.cfg.Name, n, err)
	}
	rec := contracts.WindowRecord{Window: n, JobID: id, Output: out, Opened: w.firstAt}
	b, _ := json.Marshal(rec)
	if _, err := w.h.state.Put(ctx, contracts.WatchWindowKey(w.cfg.Name, n), b); err != nil {
		return nil, fmt.Errorf("watch %s: recording window %d: %w", w.cfg.Name, n, err)
	}
	w.jobs[id] = job
	return job, nil
}

// job reads a window's job record, cached.
func (w *Watch) job(ctx context.Context, id string) (*contracts.Job, error) {
	if j := w.jobs[id]; j != nil {
		return j, nil
	}
	j, err := w.cfg.Ledger.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	w.jobs[id] = j
	return j, nil
}

// Windows lists a watch's windows in order, as recorded in kv (the
// PRS_WATCH bucket).
func Windows(ctx context.Context, kv jetstream.KeyValue, watch string) ([]contracts.WindowRecord, error) {
	keys, err := kv.ListKeysFiltered(ctx, contracts.WatchWindowPattern(watch))
	if err != nil {
		return nil, err
	}
	defer keys.Stop()
	var out []contracts.WindowRecord
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			continue
		}
		var r contracts.WindowRecord
		if json.Unmarshal(e.Value(), &r) == nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b contracts.WindowRecord) int { return int(a.Window - b.Window) })
	return out, nil
}
