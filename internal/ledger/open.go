package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// ErrSealed is returned when an open job's totals are to grow or to be
// sealed at other values after it was sealed: its totals are final.
var ErrSealed = errors.New("the job is sealed: its totals are final")

// OpenJob records a new job whose mini-batches are not all known yet (a
// watch's window): Running, not sealed, with totals of 0 that GrowJob
// raises as mini-batches are published and SealJob fixes. Until it is
// sealed the job is never finalised and allowed_failed_percent is not
// judged; error_threshold and allowed_failed_count are judged as usual. A
// job id that is recorded already fails with an error that wraps
// jetstream.ErrKeyExists.
func (l *Ledger) OpenJob(ctx context.Context, job *contracts.Job) error {
	now := time.Now().UTC()
	st := contracts.JobState{State: contracts.StateRunning, Output: job.Config.Output, Created: now, Updated: now}
	return l.create(ctx, job, st)
}

// OpenState records the open state of a job whose record is written but
// whose state is not (an opener that died between the two); a state that
// exists is left as it is.
func (l *Ledger) OpenState(ctx context.Context, job *contracts.Job) error {
	now := time.Now().UTC()
	b, _ := json.Marshal(contracts.JobState{State: contracts.StateRunning, Output: job.Config.Output, Created: now, Updated: now})
	_, err := l.B.Jobs.Create(ctx, contracts.StateKey(job.ID), b)
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("recording the state of job %s: %w", job.ID, err)
	}
	return nil
}

// GrowJob raises an open job's totals to batches and items; it never
// lowers them, so that a repeated or late call changes nothing. A job that
// has ended is left as it is; a sealed one is refused with ErrSealed when
// the totals would grow.
func (l *Ledger) GrowJob(ctx context.Context, id string, batches, items int64) error {
	_, err := l.UpdateState(ctx, id, func(s *contracts.JobState) error {
		grows := batches > s.TotalBatches || items > s.TotalItems
		switch {
		case s.Sealed && grows:
			return fmt.Errorf("job %s: %w (%d mini-batches, %d items; not %d, %d)", id, ErrSealed, s.TotalBatches, s.TotalItems, batches, items)
		case s.Terminal() || !grows:
			return ErrStateConflict
		}
		s.TotalBatches, s.TotalItems = max(s.TotalBatches, batches), max(s.TotalItems, items)
		return nil
	})
	if errors.Is(err, ErrStateConflict) {
		return nil
	}
	return err
}

// SealJob fixes an open job's totals once every one of its mini-batches is
// published, then judges it as the last counted outcome would: with its
// total known, allowed_failed_percent applies, and a job whose batches have
// all ended is finalised here (the workers that ended them could not, the
// job being open). Sealing again with the same totals only judges again,
// so a sealer that died after sealing is replaced safely; other totals are
// refused with ErrSealed. A job that has ended is left as it is.
// heartbeat, when not nil, is called while the finalisation works.
func (l *Ledger) SealJob(ctx context.Context, job *contracts.Job, batches, items int64, heartbeat func()) (contracts.JobState, error) {
	st, err := l.UpdateState(ctx, job.ID, func(s *contracts.JobState) error {
		switch {
		case s.Terminal():
			return ErrStateConflict
		case s.Sealed && (s.TotalBatches != batches || s.TotalItems != items):
			return fmt.Errorf("job %s: %w (%d mini-batches, %d items; not %d, %d)", job.ID, ErrSealed, s.TotalBatches, s.TotalItems, batches, items)
		case batches < s.TotalBatches || items < s.TotalItems:
			return fmt.Errorf("job %s: sealing at %d mini-batches and %d items, below the %d and %d published", job.ID, batches, items, s.TotalBatches, s.TotalItems)
		}
		s.Sealed, s.TotalBatches, s.TotalItems = true, batches, items
		return nil
	})
	if errors.Is(err, ErrStateConflict) {
		st, _, err = l.State(ctx, job.ID)
		return st, err
	}
	if err != nil {
		return st, err
	}
	done, err := l.B.Counter(ctx, job.ID, contracts.CounterDone)
	if err != nil {
		return st, err
	}
	if err := l.settle(ctx, job, st, done >= st.TotalBatches, heartbeat); err != nil {
		return st, err
	}
	st, _, err = l.State(ctx, job.ID)
	return st, err
}
