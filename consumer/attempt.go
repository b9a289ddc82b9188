package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/resultfmt"
	"github.com/parallelrun/prs/internal/retry"
)

// delivery is one delivery of a mini-batch message as a slot handles it:
// what it learned (the facts decide reads) and what the executor needs.
type delivery struct {
	msg jetstream.Msg
	mb  contracts.MiniBatch
	log *slog.Logger
	jr  *jobRun // nil until the job is read
	f   facts
	// held is the outcome recorded already (f.recorded), rev its revision.
	held contracts.BatchOutcome
	rev  uint64
	// num is the message's NumDelivered (in its generation).
	num int
	// start is when the attempt began; took how long it ran.
	start time.Time
	took  time.Duration
	// later is set when its ack runs behind the slot (settleLater); now
	// keeps it on the slot (a delivery settled after a panic).
	later, now bool
	// finish runs once the delivery is settled (settled).
	finish []func()
}

// onSettled adds f to what runs once the delivery is settled.
func (d *delivery) onSettled(f func()) { d.finish = append(d.finish, f) }

// settled runs the delivery's finishers, the last added first.
func (d *delivery) settled() {
	for i := len(d.finish) - 1; i >= 0; i-- {
		d.finish[i]()
	}
	d.finish = nil
}

// open reads a delivery's message: its mini-batch and how often it was
// delivered.
func (s *slot) open(d *delivery) {
	msg := d.msg
	mb, err := contracts.DecodeMiniBatch(msg.Data())
	if err != nil {
		d.f.kind, d.f.err = kindBadMessage, fmt.Errorf("%w (subject %s)", err, msg.Subject())
		return
	}
	d.mb = mb
	d.log = d.log.With("job", d.mb.JobID, "batch", d.mb.Index)
	meta, err := msg.Metadata()
	if err != nil {
		d.f.kind, d.f.err = kindBadMessage, fmt.Errorf("no metadata: %w", err)
		return
	}
	d.num = int(meta.NumDelivered)
	d.f.delivered = d.num
	d.f.tally.Items = d.mb.ItemCount()
}

// learn reads what the ledger knows of the batch: its job, whether the job
// still runs, its deliveries in every generation (noting this one) and,
// for a redelivery, its outcome.
func (s *slot) learn(d *delivery) {
	w, l, f := s.w, s.w.cfg.Ledger, &d.f
	err := w.retryBroker(w.ctx, "reading the job", opTimeout, func(c context.Context) (err error) {
		d.jr, err = w.jobs.get(c, d.mb.JobID)
		return err
	})
	if err != nil {
		f.kind, f.err = kindTransient, err
		if errors.Is(err, broker.ErrNoJob) {
			f.kind = kindUnknownJob
		}
		return
	}
	f.maxTry, f.isolate = d.jr.job.Config.RunMaxTry, d.jr.job.Config.IsolateFailures
	if d.jr.stopped() {
		f.kind = kindJobStopped
		return
	}
	// Noted before the attempt, so that a delivery that dies with its
	// worker, or is purged by a resume, still spends its try.
	err = w.retryBroker(w.ctx, "noting the delivery", opTimeout, func(c context.Context) error {
		rec, err := l.Delivered(c, d.mb.JobID, d.mb.Index, d.mb.Generation, d.num)
		if err == nil {
			f.delivered, f.infra = max(rec.Total(), d.num), rec.HandedBack
		}
		return err
	})
	// A first delivery of a job's first generation has no outcome yet; a
	// redelivery may (its worker died or its ack was lost after the outcome
	// was recorded), and so may a resumed job's message (a resume publishes
	// a batch recorded but not marked counted again, for this worker to
	// count it).
	if err == nil && (f.delivered > 1 || d.mb.Generation > 0) {
		err = w.retryBroker(w.ctx, "reading the outcome", opTimeout, func(c context.Context) (err error) {
			d.held, d.rev, f.recorded, err = l.Outcome(c, d.mb.JobID, d.mb.Index)
			return err
		})
	}
	if err == nil && !f.recorded && f.isolate {
		err = w.retryBroker(w.ctx, "reading the isolation", opTimeout, func(c context.Context) (err error) {
			f.isolatedAt, err = l.Isolation(c, d.mb.JobID, d.mb.Index)
			return err
		})
	}
	if err != nil {
		f.kind, f.err = kindTransient, err
	}
}

// attempt makes one attempt at the batch: it prepares the job, runs the
// handler and writes the rows it returned, and adds what it learned to the
// delivery's facts.
func (s *slot) attempt(d *delivery) {
	w, f := s.w, &d.f
	d.start = time.Now()
	defer s.catchAttemptPanic(d, "the attempt", false)
	err := s.prepare(d)
	if err != nil && !retry.IsPermanent(err) && w.ctx.Err() == nil {
		// Storage or the broker failed around the job: no try is spent.
		f.kind, f.err = kindTransient, err
		return
	}
	f.tried = true
	var run BatchRun
	if err != nil {
		err = &ScriptError{Type: "PrepareError", Message: fmt.Sprintf("worker %s could not prepare job %s: %v", w.cfg.Name, d.mb.JobID, err)}
	} else {
		f.ran = true
		start := time.Now()
		run, err = s.run(d.jr, d.mb, f.try())
		f.tally = run.Tally
		w.cfg.Metrics.Attempt(attemptResult(err), time.Since(start))
	}
	d.took = time.Since(d.start)
	f.kind, f.err = classify(err, w.ctx.Err() != nil, d.jr.stopped()), err
	if f.kind == kindNone {
		s.keepRows(d, run.Result)
		s.keepFiles(d)
	}
}

// catchAttemptPanic, deferred, makes a panic of an attempt or isolation
// outside the handler (preparing the job, writing the rows; the handler's
// own are caught around it) the attempt's failure: it spends a try, keeps
// no rows and ends an isolation (isolating).
func (s *slot) catchAttemptPanic(d *delivery, where string, isolating bool) {
	v := recover()
	if v == nil {
		return
	}
	var err error = &PanicError{Where: where, Value: v, Stack: debug.Stack()}
	logPanic(s.w.cfg.Logger, err, "job", d.mb.JobID, "batch", d.mb.Index, "slot", s.index)
	s.closeHandler()
	f := &d.f
	f.tried, f.kind, f.err, f.rowsKey, f.filesKey = true, kindScript, err, "", ""
	f.tally.Rows = 0
	f.isolated = f.isolated || isolating
}

// prepare readies the job on this worker and, for a partition group of
// files too large for one message, reads the batch's staged file list.
func (s *slot) prepare(d *delivery) error {
	w := s.w
	if err := w.prepare(w.ctx, d.jr); err != nil {
		return err
	}
	if d.mb.ItemsKey == "" || d.mb.Items != nil {
		return nil
	}
	return w.retryBroker(w.ctx, "reading the mini-batch's file list", opTimeout, func(c context.Context) error {
		return loadItems(c, d.jr.staging, &d.mb)
	})
}

// keepRows tallies the rows the handler returned (an attempt's, or an
// isolation's parts' together), notes the items it says failed and keeps
// the rows: in the outcome when they are small (inline_rows_max), else
// written under the attempt's own key.
func (s *slot) keepRows(d *delivery, res Result) {
	f, cfg := &d.f, &d.jr.job.Config
	f.tally.Rows = len(res.Rows)
	for _, ie := range res.ItemErrors {
		key := ie.Item
		if ie.Index >= 0 && ie.Index < len(d.mb.Items) {
			key = d.mb.Items[ie.Index].Key
		}
		d.log.Warn("item failed", "item", key, "err", ie.Err)
		f.itemErrors = append(f.itemErrors, key+": "+ie.Err)
	}
	if len(res.Rows) == 0 || cfg.OutputAction != contracts.OutputAppendRow {
		return
	}
	rows, err := resultfmt.Body(cfg.OutputFormat, res.Columns, res.Rows)
	if err != nil {
		f.kind, f.err = kindOutput, err
		return
	}
	if len(rows) == 0 {
		return
	}
	if len(rows) <= cfg.InlineRowsMax {
		f.rows = rows
		return
	}
	if f.rowsKey, err = s.putRows(d, rows); err != nil {
		f.kind, f.err = kindTransient, err
	}
}

// putRows writes a batch's rows under the attempt's own key and returns it.
func (s *slot) putRows(d *delivery, rows []byte) (string, error) {
	w := s.w
	key := contracts.ResultKey(d.mb.Index, d.f.try(), w.cfg.Name)
	body := bytes.NewReader(rows)
	if err := w.retryBroker(w.ctx, "writing rows", writeTimeout, func(c context.Context) error {
		_, _ = body.Seek(0, 0)
		return d.jr.staging.Put(c, key, body)
	}); err != nil {
		return "", fmt.Errorf("writing the rows: %w", err)
	}
	return key, nil
}

// spillRows moves an outcome's rows to an object when the outcome with them
// would not fit in the jobs bucket (its error text is long, or the bucket
// takes less than inline_rows_max allows). An outcome that still does not
// fit (a bucket whose max_value_size is small) keeps less of its error
// text, so that it can be recorded rather than handed back for ever.
func (s *slot) spillRows(d *delivery, o *contracts.BatchOutcome) error {
	fits := s.w.cfg.Ledger.Fits
	if len(o.Rows) > 0 && !fits(*o) {
		key, err := s.putRows(d, o.Rows)
		if err != nil {
			return err
		}
		o.ResultKey, o.Rows = key, nil
	}
	for !fits(*o) && len(o.Error) > minErrorMessage {
		o.Error = clipMessage(o.Error, max(minErrorMessage, len(o.Error)/2-64))
	}
	return nil
}

// minErrorMessage is the least of its error text an outcome keeps to fit
// in the jobs bucket.
const minErrorMessage = 256

func attemptResult(err error) string {
	var te *TransientError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrRunTimeout):
		return "timeout"
	case errors.As(err, &te):
		return "transient"
	default:
		return "error"
	}
}
