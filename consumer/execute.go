package consumer

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/retry"
)

// execute carries out a decision: it logs the attempt's record, then acks,
// retries, hands back or terminates the message. A step of an ack that the
// broker or storage refuses hands the message back: the outcome, once
// recorded, holds, and the next delivery counts and acks it.
func (s *slot) execute(d *delivery, dec decision) {
	if dec.note != "" {
		args := []any{"attempt", dec.try, "run_max_try", d.f.maxTry}
		if dec.record.ErrorType != "" {
			args = append(args, "error_type", dec.record.ErrorType)
		}
		if dec.err != nil {
			args = append(args, "err", dec.err)
		}
		d.log.Log(s.w.ctx, dec.level, dec.note, args...)
	}
	rec := s.record(d, dec)
	if rec.Result != "" && dec.act != actAck {
		s.logAttempt(d, dec, rec)
	}
	switch dec.act {
	case actTerm:
		_ = d.msg.TermWithReason(dec.reason)
	case actHandBack:
		s.handBack(d, dec.err, dec.backoff)
	case actRetry:
		_ = s.w.retryBroker(s.w.ctx, "counting a retry", opTimeout, func(c context.Context) error {
			return s.w.cfg.Ledger.Retried(c, d.mb.JobID, d.mb.Index, dec.try)
		})
		_ = d.msg.NakWithDelay(s.w.retryPolicy().Delay(dec.backoff))
	case actAck:
		if d.now {
			s.ack(d, dec, rec)
		} else {
			s.settleLater(d, dec, rec)
		}
	case actIsolate:
		// Nothing to do with the message: the slot isolates, then decides again.
	}
}

// record is the attempt's record with where and when it ran; a zero Result
// when the delivery leaves none. It is built once: the worker's records
// and the outcome hold the same fields.
func (s *slot) record(d *delivery, dec decision) contracts.AttemptRecord {
	rec := dec.record
	if rec.Result == "" {
		return rec
	}
	rec.Job, rec.Index, rec.Attempt = d.mb.JobID, d.mb.Index, dec.try
	rec.Start = time.Now().UTC()
	if d.f.tried {
		rec.Start, rec.Seconds = d.start.UTC(), d.took.Seconds()
	}
	if len(d.mb.Items) > 0 {
		rec.FirstItem = d.mb.Items[0].Key
	}
	rec.Worker, rec.Host, rec.PID = s.w.cfg.Name, s.w.cfg.Host, os.Getpid()
	return rec
}

// logAttempt adds an attempt's record to the worker's share of the job's
// logs, after the records of its isolation's parts (dec.parts), which it
// completes with where the attempt ran.
func (s *slot) logAttempt(d *delivery, dec decision, rec contracts.AttemptRecord) {
	// A batch out of tries was never prepared here: its record needs the
	// job's logs, which prepare opens.
	if !d.f.tried && s.w.prepare(s.w.ctx, d.jr) != nil {
		return
	}
	l := d.jr.log.Load()
	if l == nil {
		return
	}
	for _, p := range dec.parts {
		pr := p.rec
		pr.Job, pr.Index, pr.Attempt, pr.Worker, pr.Host, pr.PID = rec.Job, rec.Index, rec.Attempt, rec.Worker, rec.Host, rec.PID
		l.attempt(pr, p.traceback)
	}
	l.attempt(rec, dec.traceback)
}

// ack records the decision's outcome (none: the one recorded already
// holds), logs the attempt's record rec once it knows whether its outcome
// is the one that holds, counts that outcome exactly once, finalises the
// job if it was its last batch, and acks.
func (s *slot) ack(d *delivery, dec decision, rec contracts.AttemptRecord) {
	w, l := s.w, s.w.cfg.Ledger
	held, rev := d.held, d.rev
	if o := dec.outcome; o != nil {
		o.Index, o.Worker, o.Host, o.PID = d.mb.Index, w.cfg.Name, w.cfg.Host, os.Getpid()
		o.Start, o.Seconds, o.FirstItem, o.ExtraCalls = rec.Start, rec.Seconds, printable(rec.FirstItem), rec.ExtraCalls
		// Rows that would not fit in the record go to an object first.
		err := s.spillRows(d, o)
		if err == nil {
			err = w.retryBroker(w.ctx, "recording the outcome", opTimeout, func(c context.Context) (err error) {
				held, rev, err = l.Record(c, d.mb.JobID, *o)
				return err
			})
		}
		if err != nil {
			// The batch comes back and runs this try again.
			rec.Result, rec.ErrorType, rec.Error = contracts.ResultTransient, "Transient", "recording the outcome: "+err.Error()
			dec.traceback = ""
			s.logAttempt(d, dec, rec)
			s.handBack(d, err, 1)
			return
		}
		own := held.Worker == o.Worker && held.Attempt == o.Attempt
		if !own {
			rec.Result = contracts.ResultDuplicate
		}
		s.logAttempt(d, dec, rec)
		if own {
			w.cfg.Metrics.Outcome(o.OK, o.Succeeded, o.Failed)
		}
	}
	var done int64
	if err := w.retryBroker(w.ctx, "counting the outcome", opTimeout, func(c context.Context) (err error) {
		done, err = l.Count(c, d.jr.job, held, rev)
		return err
	}); err != nil {
		s.handBack(d, err, 1)
		return
	}
	if err := s.finalize(d, done); err != nil {
		s.handBack(d, err, 1)
		return
	}
	doubleAck(w.ctx, d.msg)
}

// finalize finalises the job when done has reached its total. A failure
// that trying again cannot fix fails the job. Below the sealed total that
// the worker knows, there is nothing to read: the total is final once sealed.
func (s *slot) finalize(d *delivery, done int64) error {
	w, l, job := s.w, s.w.cfg.Ledger, d.jr.job
	if total := d.jr.total.Load(); total > 0 && done < total {
		return nil
	}
	err := w.retryBroker(w.ctx, "finalising the job", 0, func(c context.Context) error {
		return l.MaybeFinalize(c, job, done, func() { _ = d.msg.InProgress() })
	})
	if err == nil || !retry.IsPermanent(err) {
		return err // the message comes back and the finalisation is tried again
	}
	w.cfg.Logger.Error("finalising the job failed", "job", job.ID, "err", err)
	if _, serr := l.Stop(w.ctx, job.ID, contracts.StateFailed, "finalising: "+err.Error()); serr != nil {
		return err
	}
	return nil
}

// doubleAck acks a message and waits for the server, trying again for a
// while (retry.Do); a lost ack only brings the message back, and its
// outcome is recorded.
func doubleAck(ctx context.Context, msg jetstream.Msg) {
	_ = retry.Do(ctx, ackPolicy, retry.Options{
		Timeout:   5 * time.Second,
		Retryable: func(err error) bool { return !errors.Is(err, jetstream.ErrMsgAlreadyAckd) },
	}, msg.DoubleAck)
}

// ackPolicy spaces the tries of an ack.
var ackPolicy = retry.Policy{Initial: 200 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, MaxElapsed: 30 * time.Second}

// handBack sends a message back without spending the user's run_max_try:
// after an error of storage or the broker, with a delay that grows with n,
// or at once when n is 0 or the worker is stopping (whatever failed then,
// another worker should take the batch up now).
func (s *slot) handBack(d *delivery, cause error, n int) {
	w := s.w
	w.cfg.Logger.Warn("mini-batch goes back to the queue (no try spent)",
		"job", d.mb.JobID, "batch", d.mb.Index, "attempted", d.f.tried, "err", cause)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.cfg.Ledger.HandedBack(ctx, d.mb.JobID, d.mb.Index); err != nil {
		w.cfg.Logger.Warn("could not record the lost delivery; it will spend a try", "err", err)
	}
	if n <= 0 || w.ctx.Err() != nil {
		_ = d.msg.Nak()
		return
	}
	_ = d.msg.NakWithDelay(w.retryPolicy().Delay(n))
}
