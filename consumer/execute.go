package consumer

import (
	"context"
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
	if dec.record.Result != "" {
		s.logAttempt(d, dec)
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
		s.ack(d, dec.outcome)
	case actIsolate:
		// Nothing to do with the message: the slot isolates, then decides again.
	}
}

// logAttempt adds the attempt's record to the worker's share of the job's
// logs, with where and when it ran.
func (s *slot) logAttempt(d *delivery, dec decision) {
	// A batch out of tries was never prepared here: its record needs the
	// job's logs, which prepare opens.
	if !d.f.tried && s.w.prepare(s.w.ctx, d.jr) != nil {
		return
	}
	l := d.jr.log.Load()
	if l == nil {
		return
	}
	rec := dec.record
	rec.Index, rec.Attempt = d.mb.Index, dec.try
	rec.Start = time.Now().UTC()
	if d.f.tried {
		rec.Start, rec.Seconds = d.start.UTC(), d.took.Seconds()
	}
	if len(d.mb.Items) > 0 {
		rec.FirstItem = d.mb.Items[0].Key
	}
	rec.Worker, rec.Host, rec.PID = s.w.cfg.Name, s.w.cfg.Host, os.Getpid()
	for _, p := range dec.parts {
		pr := p.rec
		pr.Index, pr.Attempt, pr.Worker, pr.Host, pr.PID = rec.Index, rec.Attempt, rec.Worker, rec.Host, rec.PID
		l.attempt(pr, p.traceback)
	}
	l.attempt(rec, dec.traceback)
}

// ack records the outcome o (nil: the one recorded already holds), counts
// the outcome that holds exactly once, finalises the job if it was its last
// batch, and acks.
func (s *slot) ack(d *delivery, o *contracts.BatchOutcome) {
	w, l := s.w, s.w.cfg.Ledger
	held, rev := d.held, d.rev
	if o != nil {
		o.Index, o.Worker = d.mb.Index, w.cfg.Name
		if err := s.spillRows(d, o); err != nil {
			s.handBack(d, err, 0)
			return
		}
		err := w.retryBroker(w.ctx, "recording the outcome", opTimeout, func(c context.Context) (err error) {
			held, rev, err = l.Record(c, d.mb.JobID, *o)
			return err
		})
		if err != nil {
			s.handBack(d, err, 0)
			return
		}
		if held.Worker == o.Worker && held.Attempt == o.Attempt {
			w.cfg.Metrics.Outcome(o.OK, o.Succeeded, o.Failed)
		}
	}
	var done int64
	if err := w.retryBroker(w.ctx, "counting the outcome", opTimeout, func(c context.Context) (err error) {
		done, err = l.Count(c, d.jr.job, held, rev)
		return err
	}); err != nil {
		s.handBack(d, err, 0)
		return
	}
	if err := s.finalize(d, done); err != nil {
		s.handBack(d, err, 0)
		return
	}
	doubleAck(w.ctx, d.msg)
}

// finalize finalises the job when done has reached its total. A failure
// that trying again cannot fix fails the job. Below the sealed total that
// the worker knows, there is nothing to read: the total is final once sealed.
func (s *slot) finalize(d *delivery, done int64) error {
	w, l, job := s.w, s.w.cfg.Ledger, d.jr.job
	if d.jr.total > 0 && done < d.jr.total {
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

// doubleAck acks a message and waits for the server, a few times over; a
// lost ack only brings the message back, and its outcome is recorded.
func doubleAck(ctx context.Context, msg jetstream.Msg) {
	for try := 0; ; try++ {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := msg.DoubleAck(actx)
		cancel()
		if err == nil || try == 5 || ctx.Err() != nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// handBack sends a message back after an error of storage or the broker,
// without spending the user's run_max_try; the delay grows with n.
func (s *slot) handBack(d *delivery, cause error, n int) {
	w := s.w
	w.cfg.Logger.Warn("mini-batch goes back to the queue (storage or broker error; no try spent)",
		"job", d.mb.JobID, "batch", d.mb.Index, "err", cause)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.cfg.Ledger.AddInfraFailure(ctx, d.mb.JobID, d.mb.Index); err != nil {
		w.cfg.Logger.Warn("could not record the lost delivery; it will spend a try", "err", err)
	}
	_ = d.msg.NakWithDelay(w.retryPolicy().Delay(max(n, 1)))
}
