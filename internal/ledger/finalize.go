package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/resultfmt"
	"github.com/parallelrun/prs/internal/retry"
)

// ErrLostClaim means another process took over a finalisation whose
// claim this one failed to renew in time; that process finishes it.
var ErrLostClaim = errors.New("another process took over the finalize claim")

// ErrBadRows means the rows of the job's batches cannot be written in its
// output_format; trying again cannot help (it is marked permanent), the job
// fails.
var ErrBadRows = retry.Permanent(errors.New("the rows cannot be written in the output format"))

type claim struct {
	Worker  string    `json:"worker"`
	Renewed time.Time `json:"renewed"`
}

// MaybeFinalize finalises the job when the producer has sealed it and done
// has reached its total. heartbeat, when not nil, is called every few
// seconds while it works (a worker keeps its message alive with it).
func (l *Ledger) MaybeFinalize(ctx context.Context, job *contracts.Job, done int64, heartbeat func()) error {
	st, _, err := l.State(ctx, job.ID)
	if err != nil {
		return err
	}
	if st.Terminal() || !st.Sealed || done < st.TotalBatches {
		return nil
	}
	return l.settle(ctx, job, st, true, heartbeat)
}

// finalize writes the job's final file and moves it to Completed, with note
// as its reason ("" for none).
func (l *Ledger) finalize(ctx context.Context, job *contracts.Job, total int64, note string, heartbeat func()) error {
	if heartbeat == nil {
		heartbeat = func() {}
	}
	rev, err := l.claim(ctx, job.ID, heartbeat)
	if err != nil || rev == 0 {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(l.Lease / 4)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				heartbeat()
				b, _ := json.Marshal(claim{Worker: l.Worker, Renewed: time.Now().UTC()})
				r, err := l.B.Jobs.Update(ctx, contracts.FinalizeKey(job.ID), b, rev)
				if err != nil {
					if errors.Is(err, jetstream.ErrKeyExists) || isWrongSequence(err) {
						cancel(ErrLostClaim)
					} else {
						cancel(fmt.Errorf("renewing the finalize claim of job %s: %w", job.ID, err))
					}
					return
				}
				rev = r
			}
		}
	}()
	defer func() { cancel(nil); <-renewed }()

	var final string
	if final, err = l.writeOutputs(ctx, job, total); err != nil {
		if c := context.Cause(ctx); ctx.Err() != nil && c != nil {
			if errors.Is(c, ErrLostClaim) {
				l.Log.Warn("another process took over the finalisation", "job", job.ID)
				return nil
			}
			err = c
		}
		return err
	}
	_, err = l.UpdateState(ctx, job.ID, func(s *contracts.JobState) error {
		if s.Terminal() {
			return ErrStateConflict
		}
		s.State, s.Reason, s.FinalObject, s.Finished = contracts.StateCompleted, note, final, time.Now().UTC()
		return nil
	})
	if errors.Is(err, ErrStateConflict) {
		return nil
	}
	if err != nil {
		return err
	}
	if job.Fingerprint != "" {
		if _, err := l.B.Jobs.PutString(ctx, contracts.ReuseKey(job.Fingerprint), job.ID); err != nil {
			l.Log.Warn("recording the job for reuse", "job", job.ID, "err", err)
		}
	}
	l.Log.Info("job completed", "job", job.ID, "output", final, "note", note)
	l.writeReports(ctx, job.ID)
	l.cleanAfterEnd(ctx, job, heartbeat)
	return nil
}

// claim takes the job's finalize claim, waiting while another live process
// holds it. It returns revision 0 when the job ended meanwhile.
func (l *Ledger) claim(ctx context.Context, jobID string, heartbeat func()) (uint64, error) {
	key := contracts.FinalizeKey(jobID)
	for {
		st, _, err := l.State(ctx, jobID)
		if err != nil {
			return 0, err
		}
		if st.Terminal() {
			return 0, nil
		}
		b, _ := json.Marshal(claim{Worker: l.Worker, Renewed: time.Now().UTC()})
		rev, err := l.B.Jobs.Create(ctx, key, b)
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("finalize claim of job %s: %w", jobID, err)
		}
		e, err := l.B.Jobs.Get(ctx, key)
		if err == nil {
			var c claim
			_ = json.Unmarshal(e.Value(), &c)
			if time.Since(c.Renewed) > l.Lease {
				if rev, err := l.B.Jobs.Update(ctx, key, b, e.Revision()); err == nil {
					l.Log.Warn("took over a stale finalize claim", "job", jobID, "from", c.Worker)
					return rev, nil
				}
			}
		}
		heartbeat()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// writeFinal writes the rows of every batch's recorded outcome, in batch
// order, as the final object: streamed to the output store as they are
// read (an S3 multipart upload, or a temporary file renamed on a local
// folder), so that the final object appears whole or not at all and
// memory stays bounded whatever the job's size.
//
// For output_format csv and parquet the rows go to a local temporary file
// first: both formats take their columns from the union of every row's
// keys, so the conversion reads the rows twice (resultfmt.Final), and the
// second reading from local disk spares a second GET of every staged
// object. The converted file itself is streamed to the store.
func (l *Ledger) writeFinal(ctx context.Context, job *contracts.Job, total int64) (string, error) {
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		return "", err
	}
	out, err := l.Stores.Open(ctx, job.Config.Output)
	if err != nil {
		return "", err
	}
	name := job.Config.AppendRowFileName
	format := job.Config.OutputFormat
	var rows *os.File
	if format == resultfmt.CSV || format == resultfmt.Parquet {
		if rows, err = os.CreateTemp("", "prs-final-*"); err != nil {
			return "", err
		}
		defer os.Remove(rows.Name())
		defer rows.Close()
		if err := l.copyRows(ctx, rows, job, staging, total); err != nil {
			return "", err
		}
		if _, err := rows.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
	}
	w, err := objstore.Create(ctx, out, name)
	if err != nil {
		return "", fmt.Errorf("finalising job %s: writing %s: %w", job.ID, out.URI(name), err)
	}
	defer w.Abort()
	if rows == nil {
		err = l.copyRows(ctx, w, job, staging, total)
	} else if err = resultfmt.Final(format, rows, w); err != nil {
		if errors.Is(err, resultfmt.ErrBadLine) || errors.Is(err, resultfmt.ErrUnknownFormat) {
			err = fmt.Errorf("%w: %w", ErrBadRows, err)
		}
		err = fmt.Errorf("finalising job %s: writing the rows as %s: %w", job.ID, format, err)
	}
	if err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("finalising job %s: writing %s: %w", job.ID, out.URI(name), err)
	}
	return out.URI(name), nil
}

// copyRows writes the rows of every batch's recorded outcome to w in batch
// order, reading l.FinalWindow outcomes and row objects ahead; small rows
// come with their outcome (Rows), larger ones from their object.
func (l *Ledger) copyRows(ctx context.Context, w io.Writer, job *contracts.Job, staging objstore.Store, total int64) error {
	fetch := func(ctx context.Context, i int64) (io.ReadCloser, error) {
		o, _, ok, err := l.Outcome(ctx, job.ID, i)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("finalising job %s: batch %d has no recorded outcome", job.ID, i)
		}
		if len(o.Rows) > 0 {
			return io.NopCloser(bytes.NewReader(o.Rows)), nil
		}
		if o.ResultKey == "" {
			return nil, nil
		}
		rc, err := staging.Get(ctx, o.ResultKey)
		if err != nil {
			return nil, fmt.Errorf("finalising job %s: rows of batch %d: %w", job.ID, i, err)
		}
		return rc, nil
	}
	use := func(i int64, rc io.ReadCloser) error {
		if rc == nil {
			return nil
		}
		defer rc.Close()
		if _, err := io.Copy(w, rc); err != nil {
			return fmt.Errorf("finalising job %s: rows of batch %d: %w", job.ID, i, err)
		}
		return nil
	}
	release := func(rc io.ReadCloser) {
		if rc != nil {
			rc.Close()
		}
	}
	window := l.FinalWindow
	if window <= 0 {
		window = defaultFinalWindow
	}
	return inOrder(ctx, total, window, fetch, use, release)
}
