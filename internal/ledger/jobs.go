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

// ErrJobEnded is returned when a job that has ended is to be resumed.
var ErrJobEnded = errors.New("the job has already ended")

// CreateJob records a new job and its Running state. The state is sealed
// from the start with the totals of the first listing (batches and items,
// items -1 when unknown), so that whichever worker ends the last batch can
// finalise the job and no producer has to stay alive for it. A job id that
// is recorded already fails with an error that wraps jetstream.ErrKeyExists.
func (l *Ledger) CreateJob(ctx context.Context, job *contracts.Job, batches, items int64) error {
	now := time.Now().UTC()
	st := contracts.JobState{State: contracts.StateRunning, Sealed: true,
		TotalBatches: batches, TotalItems: items,
		Output: job.Config.Output, Created: now, Updated: now}
	return l.create(ctx, job, st)
}

// RecordReused records a job that returns the output of prior, a completed
// identical job whose state was priorSt: its record, and a Completed state
// that names prior and the final object (final, "" when none).
func (l *Ledger) RecordReused(ctx context.Context, job *contracts.Job, prior string, priorSt contracts.JobState, final string) (contracts.JobState, error) {
	now := time.Now().UTC()
	st := contracts.JobState{
		State: contracts.StateCompleted, Reason: "reused the output of job " + prior, Sealed: true,
		TotalBatches: priorSt.TotalBatches, TotalItems: priorSt.TotalItems, Output: job.Config.Output, FinalObject: final,
		ReusedFrom: prior, Created: now, Updated: now, Finished: now,
	}
	return st, l.create(ctx, job, st)
}

// create writes a new job's record, then its state.
func (l *Ledger) create(ctx context.Context, job *contracts.Job, st contracts.JobState) error {
	b, _ := json.Marshal(job)
	if _, err := l.B.Jobs.Create(ctx, contracts.JobKey(job.ID), b); err != nil {
		return fmt.Errorf("recording job %s: %w", job.ID, err)
	}
	sb, _ := json.Marshal(st)
	if _, err := l.B.Jobs.Create(ctx, contracts.StateKey(job.ID), sb); err != nil {
		return fmt.Errorf("recording the state of job %s: %w", job.ID, err)
	}
	return nil
}

// Reusable returns the id of the completed job recorded for reuse under
// fingerprint, or "" when there is none.
func (l *Ledger) Reusable(ctx context.Context, fingerprint string) (string, error) {
	e, err := l.B.Jobs.Get(ctx, contracts.ReuseKey(fingerprint))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the reuse record: %w", err)
	}
	return string(e.Value()), nil
}

// Resume starts a new publishing generation of a running job and purges
// the messages of the earlier ones still queued; the producer then sends
// every mini-batch without an outcome again, under new message ids (a batch
// in flight at that moment may run twice; its outcome is still recorded and
// counted once). A job that has ended is refused with ErrJobEnded.
func (l *Ledger) Resume(ctx context.Context, jobID string) (generation int, err error) {
	st, err := l.UpdateState(ctx, jobID, func(s *contracts.JobState) error {
		if s.Terminal() {
			return fmt.Errorf("job %s: %w (%s)", jobID, ErrJobEnded, s.State)
		}
		s.Generation++
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := l.purgeNotingDeliveries(ctx, jobID); err != nil {
		return 0, err
	}
	return st.Generation, nil
}
