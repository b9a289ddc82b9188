package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// errLostLead means another replica took the watch over: this one stops
// leading, drops what it holds in memory (its events are delivered again)
// and waits to lead again.
var errLostLead = errors.New("another replica leads the watch")

// Watch turns object events into the mini-batches of windows.
type Watch struct {
	cfg Config
	log *slog.Logger
	h   *handles
	src *origin

	// The watch's record as this replica last wrote it, while it leads.
	st  contracts.WatchState
	rev uint64

	// Items taken from events and not yet committed to a mini-batch, and
	// the events they came from (acked once their items are committed).
	pending    []taken
	pendingSet map[string]bool
	held       []held
	// firstAt is when the current window's first item arrived here.
	firstAt time.Time
	// known holds the seen lookups done ahead for the events being taken
	// (lookAhead): true for a version taken, false for one that was not
	// when looked up (commit turns its own versions true).
	known map[string]bool

	list *lister
	jobs map[string]*contracts.Job
}

// New validates cfg.
func New(cfg Config) (*Watch, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	src, err := newOrigin(&cfg.Template.Config, cfg.Template.Input)
	if err != nil {
		return nil, err
	}
	return &Watch{cfg: cfg, log: cfg.Logger.With("watch", cfg.Name), src: src, jobs: map[string]*contracts.Job{}}, nil
}

// Run serves the watch until ctx is done: it waits to lead it (one replica
// leads at a time, another takes over when the leader's lease lapses), then
// turns events into mini-batches. It returns nil when ctx is done, and an
// error only when the watch's stream is another watch's (errSubject); other
// failures (NATS down, a store that does not answer) are logged and tried
// again.
func (w *Watch) Run(ctx context.Context) error {
	pause := time.Second
	for w.h == nil {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		h, err := setup(sctx, w.cfg.Ledger.B.JS, &w.cfg)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errSubject):
			return err
		case err != nil:
			// NATS may be down for a while: wait for it.
			w.log.Error("setting up the watch's stream and buckets failed; trying again", "err", err, "in", pause)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
			pause = min(2*pause, w.cfg.Lease)
		}
		w.h = h
	}
	pause = time.Second
	for ctx.Err() == nil {
		if err := w.acquire(ctx); err != nil {
			break
		}
		err := w.lead(ctx)
		w.drop()
		switch {
		case ctx.Err() != nil:
		case errors.Is(err, errLostLead):
			w.log.Warn("another replica took the watch over")
		default:
			w.log.Error("leading the watch failed; trying again", "err", err, "in", pause)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			pause = min(2*pause, w.cfg.Lease)
			continue
		}
		pause = time.Second
	}
	return nil
}

// drop forgets what was taken and not committed: its events are not acked,
// so JetStream delivers them again after the ack wait.
func (w *Watch) drop() {
	w.pending, w.pendingSet, w.held, w.firstAt, w.known = nil, nil, nil, time.Time{}, nil
	w.list = nil
}

// acquire waits until this replica leads the watch: the watch is new, or
// it led it before, or its leader's lease has lapsed.
func (w *Watch) acquire(ctx context.Context) error {
	key := contracts.WatchStateKey(w.cfg.Name)
	waiting := false
	for {
		now := time.Now().UTC()
		e, err := w.h.state.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			w.st = contracts.WatchState{Owner: w.cfg.Owner, Renewed: now, Term: 1, Window: 1}
			b, _ := json.Marshal(w.st)
			if w.rev, err = w.h.state.Create(ctx, key, b); err == nil {
				w.log.Info("leading the new watch", "owner", w.cfg.Owner)
				return nil
			}
		case err == nil:
			var st contracts.WatchState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				return fmt.Errorf("watch %s: bad record: %w", w.cfg.Name, err)
			}
			if st.Owner == w.cfg.Owner || now.Sub(st.Renewed) > w.cfg.Lease {
				prev := st.Owner
				st.Owner, st.Renewed, st.Term, st.Seq = w.cfg.Owner, now, st.Term+1, 0
				b, _ := json.Marshal(st)
				if w.rev, err = w.h.state.Update(ctx, key, b, e.Revision()); err == nil {
					w.st = st
					w.log.Info("leading the watch", "owner", w.cfg.Owner, "previous", prev, "term", st.Term, "window", st.Window)
					return nil
				}
			} else if !waiting {
				waiting = true
				w.log.Info("another replica leads the watch; standing by", "leader", st.Owner)
			}
		}
		if err != nil && ctx.Err() == nil && !errors.Is(err, jetstream.ErrKeyExists) && !wrongSequence(err) {
			w.log.Warn("reading the watch's record", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.cfg.Lease / 4):
		}
	}
}

// save writes the watch's record by compare-and-swap: errLostLead when
// another replica wrote it since.
func (w *Watch) save(ctx context.Context) error {
	b, _ := json.Marshal(w.st)
	rev, err := w.h.state.Update(ctx, contracts.WatchStateKey(w.cfg.Name), b, w.rev)
	if errors.Is(err, jetstream.ErrKeyExists) || wrongSequence(err) {
		return errLostLead
	}
	if err != nil {
		return fmt.Errorf("watch %s: saving its record: %w", w.cfg.Name, err)
	}
	w.rev = rev
	return nil
}

func wrongSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// lead serves the watch while this replica leads it.
func (w *Watch) lead(ctx context.Context) error {
	if err := w.recover(ctx); err != nil {
		return err
	}
	w.pendingSet = map[string]bool{}
	now := time.Now()
	nextList, nextLag := now, now
	for ctx.Err() == nil {
		now = time.Now()
		if err := w.renewIfDue(ctx); err != nil {
			return err
		}
		if w.cfg.Source == SourceListing && !now.Before(nextList) {
			if err := w.listOnce(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, errLostLead) {
					return err
				}
				w.log.Warn("listing the input failed; trying again at the next interval", "err", err)
			}
			nextList = time.Now().Add(w.cfg.ListInterval)
		}
		if d, ok := w.deadline(); ok && !time.Now().Before(d) {
			if err := w.closeWindow(ctx); err != nil {
				return err
			}
		}
		if !now.Before(nextLag) {
			w.reportLag(ctx)
			nextLag = now.Add(2 * time.Second)
		}
		w.beat()
		wait := time.Until(w.st.Renewed.Add(w.cfg.Lease / 3))
		if w.cfg.Source == SourceListing {
			wait = min(wait, time.Until(nextList))
		}
		if d, ok := w.deadline(); ok {
			wait = min(wait, time.Until(d))
		} else {
			// A window opened by an event of this fetch closes by
			// time at most a tenth of the window late.
			wait = min(wait, w.cfg.Window/10)
		}
		if err := w.fetch(ctx, max(wait, 20*time.Millisecond)); err != nil {
			return err
		}
	}
	return nil
}

// renewIfDue renews the lease when a third of it has passed since it was
// last renewed (the lead loop, and a long listing, call it).
func (w *Watch) renewIfDue(ctx context.Context) error {
	now := time.Now().UTC()
	if now.Sub(w.st.Renewed) < w.cfg.Lease/3 {
		return nil
	}
	w.st.Renewed = now
	return w.save(ctx)
}

// deadline is when the current window closes by time; ok is false while
// it holds nothing.
func (w *Watch) deadline() (time.Time, bool) {
	opened := w.st.Opened
	if opened.IsZero() {
		opened = w.firstAt
	}
	return opened.Add(w.cfg.Window), !opened.IsZero()
}

// fetch takes the events that arrive within wait.
func (w *Watch) fetch(ctx context.Context, wait time.Duration) error {
	batch, err := w.h.cons.Fetch(64, jetstream.FetchMaxWait(wait))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("watch %s: fetching events: %w", w.cfg.Name, err)
	}
	msgs := batch.Messages()
	for msg := range msgs {
		// The events that arrived with it are taken together: their
		// seen lookups are done at once, not one round trip each.
		chunk := []jetstream.Msg{msg}
	more:
		for len(chunk) < 64 {
			select {
			case m, ok := <-msgs:
				if !ok {
					break more
				}
				chunk = append(chunk, m)
			default:
				break more
			}
		}
		if err := w.takeAll(ctx, chunk); err != nil {
			return err
		}
	}
	if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return fmt.Errorf("watch %s: fetching events: %w", w.cfg.Name, err)
	}
	return nil
}

// reportLag reports the events waiting in the event stream: a work queue,
// so its first message is the oldest not yet taken.
func (w *Watch) reportLag(ctx context.Context) {
	info, err := w.h.events.Info(ctx)
	if err != nil {
		return
	}
	var age time.Duration
	if info.State.Msgs > 0 {
		age = time.Since(info.State.FirstTime)
	}
	w.cfg.Metrics.Lag(w.cfg.Name, int64(info.State.Msgs), max(age, 0))
}
