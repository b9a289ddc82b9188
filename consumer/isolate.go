package consumer

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/parallelrun/prs/internal/retry"
)

// isolate carries out actIsolate: with isolate_failures, a mini-batch whose
// run() failed on its last try is run again in parts (isolation.go) through
// the same run path as an attempt (runbatch.go), and the items that still fail
// alone are its only failed items. What it learns goes into the delivery's
// facts, for decide to ask again: the rows of the parts that returned are
// written once, under the attempt's own key, after the isolation, and the
// outcome is recorded once, by the executor; a worker that dies during the
// isolation leaves neither. A mark in the ledger (BeginIsolation) lets the
// redelivery isolate again, from the start, instead of failing out of
// tries. The message's heartbeat (slot.handle) runs throughout.
func (s *slot) isolate(d *delivery) {
	w, f := s.w, &d.f
	defer s.catchAttemptPanic(d, "the isolation", true)
	first := f.err
	if !f.tried { // taking up an isolation lost with its worker
		first, d.start = nil, time.Now()
		if err := s.prepare(d); err != nil {
			s.prepareFailed(d, err)
			return
		}
		f.tried, f.ran = true, true
	}
	try := f.try()
	err := w.retryBroker(w.ctx, "marking the isolation", opTimeout, func(c context.Context) error {
		_, err := w.cfg.Ledger.BeginIsolation(c, d.mb.JobID, d.mb.Index, try)
		return err
	})
	if err != nil {
		f.kind, f.err = kindTransient, err
		return
	}
	s.isolateParts(d, first)
	d.took = time.Since(d.start)
}

// prepareFailed notes that a job could not be prepared for an isolation
// taken up: storage trouble hands the message back, anything else fails
// the batch.
func (s *slot) prepareFailed(d *delivery, err error) {
	w, f := s.w, &d.f
	if !retry.IsPermanent(err) && w.ctx.Err() == nil {
		f.kind, f.err = kindTransient, err
		return
	}
	f.tried, f.isolated = true, true
	f.err = &ScriptError{Type: "PrepareError", Message: fmt.Sprintf("worker %s could not prepare job %s: %v", w.cfg.Name, d.mb.JobID, err)}
	f.kind = classify(f.err, w.ctx.Err() != nil, d.jr.stopped())
}

// isolateParts loads the batch again and runs the isolation of its items;
// first is the whole batch's error on this delivery (nil when none).
func (s *slot) isolateParts(d *delivery, first error) {
	w, f, jr := s.w, &d.f, d.jr
	f.isolated = true
	if err := s.openHandler(jr); err != nil {
		f.kind, f.err = classify(err, w.ctx.Err() != nil, jr.stopped()), err
		return
	}
	ctx, cancel := s.jobContext(jr)
	defer cancel()
	b, bad, n, cleanup, err := loadBatch(ctx, s.batchInput(jr), d.mb, f.try())
	defer cleanup()
	var bp *batchParts
	if err == nil && b != nil {
		bp, err = newBatchParts(b)
	}
	if err != nil {
		f.kind, f.err = classify(err, w.ctx.Err() != nil, jr.stopped()), err
		return
	}
	f.tally, f.kind, f.err = n, kindNone, nil
	if b == nil { // no well-formed row: nothing to run
		s.keepRows(d, Result{ItemErrors: bad})
		return
	}
	stop := func(err error) bool {
		k := classify(err, w.ctx.Err() != nil, jr.stopped())
		return k == kindTransient || k == kindWorkerStopping || k == kindJobStopped
	}
	kept := s.keptDir(jr)
	defer os.RemoveAll(kept)
	if err := emptyDir(kept); err != nil {
		f.kind, f.err = kindTransient, err
		return
	}
	iso := newIsolation(bp.n(), jr.job.Config.IsolateCalls(), s.partRunner(ctx, d, bp, kept), stop, bp.name, b.Table != nil)
	iso.isolate(first, d.start, d.took)
	if iso.halted != nil {
		f.kind, f.err = classify(iso.halted, w.ctx.Err() != nil, jr.stopped()), iso.halted
		return
	}
	f.tally.Raised, f.parts, f.extraCalls = iso.raised, iso.parts, iso.calls
	res := iso.res
	res.ItemErrors = append(bad, res.ItemErrors...)
	s.keepRows(d, res)
	s.keepFilesOf(d, kept)
}

// partRunner runs a part of an isolation as an attempt runs a mini-batch:
// in an emptied output folder. The files of a part whose run() returned are
// gathered in kept, to be kept with the isolation's outcome as an
// attempt's are (outputfiles.go); a part that failed leaves none.
func (s *slot) partRunner(ctx context.Context, d *delivery, bp *batchParts, kept string) func(lo, hi int) (Result, error) {
	return func(lo, hi int) (Result, error) {
		if err := s.freshOutput(d.jr); err != nil {
			return Result{}, &TransientError{Err: err}
		}
		res, err := s.invoke(ctx, d.jr, bp.part(lo, hi))
		if err != nil {
			return res, err
		}
		if err := s.gatherFiles(d, kept); err != nil {
			return Result{}, &TransientError{Err: err}
		}
		return res, nil
	}
}
