package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/resultfmt"
)

// slot runs one mini-batch at a time and keeps one handler, for the job it
// served last.
type slot struct {
	w       *Worker
	index   int
	handler Handler
	hJob    *jobRun     // the job the handler serves
	out     *lineWriter // the handler's stdout and stderr in the job's logs
	errOut  *lineWriter
}

func (s *slot) loop() {
	defer s.closeHandler()
	cons := s.w.cfg.Ledger.B.Consumer
	for !s.w.isDraining() && s.w.ctx.Err() == nil {
		if s.hJob != nil && s.hJob.ctx.Err() != nil {
			s.closeHandler() // the job ended: stop its script and free what it holds
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(s.w.cfg.PollWait))
		if err != nil {
			if !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, jetstream.ErrNoMessages) {
				s.w.cfg.Logger.Debug("pulling a mini-batch", "slot", s.index, "err", err)
				select {
				case <-time.After(500 * time.Millisecond):
				case <-s.w.ctx.Done():
				case <-s.w.draining:
				}
			}
			continue
		}
		s.handle(msg)
	}
}

func (s *slot) closeHandler() {
	if s.handler != nil {
		if err := s.handler.Close(); err != nil {
			s.w.cfg.Logger.Warn("closing handler", "job", s.hJob.job.ID, "slot", s.index, "err", err)
		}
		s.handler, s.hJob = nil, nil
		for _, lw := range []*lineWriter{s.out, s.errOut} {
			if lw != nil {
				_ = lw.Close()
			}
		}
		s.out, s.errOut = nil, nil
	}
}

// maxInfraFailures caps the deliveries that storage or broker errors may
// take without spending a try, so that a failure that never heals still
// ends in the batch's failure instead of a loop.
const maxInfraFailures = 20

// handle decides, in this one place, what happens to a message: ack,
// nak with delay, heartbeat while it runs, or terminate.
func (s *slot) handle(msg jetstream.Msg) {
	w, l, log := s.w, s.w.cfg.Ledger, s.w.cfg.Logger
	ctx := w.ctx
	mb, err := contracts.DecodeMiniBatch(msg.Data())
	if err != nil {
		log.Error("dropping a message that is not a mini-batch", "subject", msg.Subject(), "err", err)
		_ = msg.TermWithReason("not a mini-batch message")
		return
	}
	log = log.With("job", mb.JobID, "batch", mb.Index)
	meta, err := msg.Metadata()
	if err != nil {
		_ = msg.TermWithReason("no metadata")
		return
	}
	delivered := int(meta.NumDelivered)
	m := w.cfg.Metrics
	m.InFlight(1)
	defer m.InFlight(-1)
	if delivered > 1 {
		m.Redelivery()
	}

	// Keep the message alive while anything below runs.
	hbCtx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go heartbeat(hbCtx, msg, l.B.HeartbeatEvery(), m)

	var jr *jobRun
	err = w.retryBroker(ctx, "reading the job", opTimeout, func(c context.Context) (err error) {
		jr, err = w.jobs.get(c, mb.JobID)
		return err
	})
	if errors.Is(err, broker.ErrNoJob) {
		log.Error("dropping a mini-batch of an unknown job", "err", err)
		_ = msg.TermWithReason(err.Error())
		return
	}
	if err != nil {
		s.infraRetry(msg, mb, delivered, err)
		return
	}
	if jr.stopped() {
		_ = msg.TermWithReason("job stopped")
		return
	}
	var (
		o   contracts.BatchOutcome
		rev uint64
		ok  bool
	)
	// A first delivery has no outcome yet (the producer skips finished
	// batches when it resumes a job); a redelivery may: its worker died or
	// its ack was lost after the outcome was recorded.
	infra := 0
	if delivered > 1 {
		if err := w.retryBroker(ctx, "reading the outcome", opTimeout, func(c context.Context) (err error) {
			o, rev, ok, err = l.Outcome(c, mb.JobID, mb.Index)
			return err
		}); err != nil {
			s.infraRetry(msg, mb, delivered, err)
			return
		}
		if ok {
			s.finish(msg, jr, o, rev)
			return
		}
		if err := w.retryBroker(ctx, "reading lost deliveries", opTimeout, func(c context.Context) (err error) {
			infra, err = l.InfraFailures(c, mb.JobID, mb.Index)
			return err
		}); err != nil {
			s.infraRetry(msg, mb, delivered, err)
			return
		}
	}
	attempt := delivered - min(infra, maxInfraFailures)
	maxTry := jr.job.Config.RunMaxTry
	if attempt > maxTry {
		// Deliveries lost to dead workers spent the last tries.
		log.Warn("mini-batch out of tries", "attempt", attempt, "run_max_try", maxTry)
		if w.prepare(ctx, jr) == nil {
			first := ""
			if len(mb.Items) > 0 {
				first = mb.Items[0].Key
			}
			s.logAttempt(jr, contracts.AttemptRecord{Index: mb.Index, Attempt: attempt, Items: mb.ItemCount(), Failed: mb.ItemCount(),
				Start: time.Now().UTC(), Result: contracts.ResultLost, ErrorType: "MaxTriesExceeded",
				Error: "the batch's worker was lost on its last try", FirstItem: first}, "")
		}
		s.record(msg, jr, mb, failedOutcome(mb, mb.ItemCount(), maxTry, w.cfg.Name, "MaxTriesExceeded",
			fmt.Sprintf("the batch's worker was lost on its last try (%d of %d)", maxTry, maxTry)))
		return
	}

	var (
		res Result
		n   = batchCount{items: mb.ItemCount()}
	)
	started := time.Now()
	runErr := w.prepare(ctx, jr)
	if runErr == nil && mb.ItemsKey != "" && mb.Items == nil {
		// A partition group of files too large for one message.
		runErr = w.retryBroker(ctx, "reading the mini-batch's file list", opTimeout, func(c context.Context) error {
			return loadItems(c, jr.staging, &mb)
		})
	}
	if runErr != nil && !permanentPrepare(runErr) && w.ctx.Err() == nil {
		s.infraRetry(msg, mb, delivered, runErr)
		return
	}
	if runErr != nil {
		runErr = &ScriptError{Type: "PrepareError", Message: fmt.Sprintf("worker %s could not prepare job %s: %v", w.cfg.Name, mb.JobID, runErr)}
	} else {
		start := time.Now()
		res, n, runErr = s.run(jr, mb, attempt)
		m.Attempt(attemptResult(runErr), time.Since(start))
	}
	rec := contracts.AttemptRecord{Index: mb.Index, Attempt: attempt, Items: n.items, Start: started.UTC(),
		Seconds: time.Since(started).Seconds()}
	if len(mb.Items) > 0 {
		rec.FirstItem = mb.Items[0].Key
	}
	switch {
	case w.ctx.Err() != nil:
		rec.Result, rec.ErrorType, rec.Error = contracts.ResultTransient, "WorkerStopped", "the worker stopped during the attempt"
		s.logAttempt(jr, rec, "")
		s.infraRetry(msg, mb, delivered, errors.New("worker stopped"))
		return
	case jr.stopped():
		_ = msg.TermWithReason("job stopped")
		return
	}
	var te *TransientError
	if errors.As(runErr, &te) {
		rec.Result, rec.ErrorType, rec.Error = contracts.ResultTransient, "Transient", runErr.Error()
		s.logAttempt(jr, rec, "")
		s.infraRetry(msg, mb, delivered, runErr)
		return
	}
	if runErr != nil {
		etype := errorType(runErr)
		rec.ErrorType, rec.Error, rec.Failed = etype, errorMessage(runErr), n.items
		rec.Result = contracts.ResultFailed
		if attempt < maxTry {
			rec.Result = contracts.ResultRetried
		}
		s.logAttempt(jr, rec, traceback(runErr))
		if attempt < maxTry {
			delay := retryDelay(attempt, w.cfg.RetryBase, w.cfg.RetryMax)
			log.Warn("attempt failed; trying again", "attempt", attempt, "run_max_try", maxTry, "error_type", etype, "err", runErr, "in", delay)
			_ = w.retryBroker(ctx, "counting a retry", opTimeout, func(c context.Context) error {
				return l.Retried(c, mb.JobID, mb.Index, attempt)
			})
			_ = msg.NakWithDelay(delay)
			return
		}
		log.Error("mini-batch failed on its last try", "attempt", attempt, "error_type", etype, "err", runErr)
		s.record(msg, jr, mb, failedOutcome(mb, n.items, attempt, w.cfg.Name, etype, runErr.Error()))
		return
	}

	o = contracts.BatchOutcome{Index: mb.Index, Attempt: attempt, Items: n.items, Worker: w.cfg.Name}
	o.Succeeded = len(res.Rows)
	// Malformed rows fail whatever run() returned for the others.
	o.Failed = n.malformed + max(0, n.items-n.malformed-len(res.Rows))
	// Malformed rows are failed items, but a mini-batch whose well-formed
	// rows all succeeded has not failed.
	o.OK = o.Failed <= n.malformed
	if len(res.Rows) < n.items-n.malformed {
		o.ErrorType = "PartialResult"
		o.Error = fmt.Sprintf("run() returned %d rows for %d items", len(res.Rows), n.items-n.malformed)
	}
	var itemErrs strings.Builder
	for i, ie := range res.ItemErrors {
		key := ie.Item
		if ie.Index >= 0 && ie.Index < len(mb.Items) {
			key = mb.Items[ie.Index].Key
		}
		log.Warn("item failed", "item", key, "err", ie.Err)
		fmt.Fprintf(&itemErrs, "%s: %s\n", key, ie.Err)
		if i == 0 {
			o.ErrorType = "ItemError"
			o.Error = fmt.Sprintf("%d of %d items failed; first: %s: %s", len(res.ItemErrors), n.items, key, ie.Err)
		}
	}
	rec.Succeeded, rec.Failed, rec.ErrorType, rec.Error = o.Succeeded, o.Failed, o.ErrorType, o.Error
	rec.Result = contracts.ResultSucceeded
	if !o.OK {
		rec.Result = contracts.ResultPartial
	}
	var rows []byte
	if len(res.Rows) > 0 && jr.job.Config.OutputAction == contracts.OutputAppendRow {
		var err error
		if rows, err = resultfmt.Body(jr.job.Config.OutputFormat, res.Columns, res.Rows); err != nil {
			o.OK, o.Succeeded, o.Failed = false, 0, n.items
			o.ErrorType, o.Error = "OutputError", "writing run()'s rows: "+err.Error()
			rec.Succeeded, rec.Failed, rec.ErrorType, rec.Error = o.Succeeded, o.Failed, o.ErrorType, o.Error
			rec.Result = contracts.ResultPartial
		}
	}
	if len(rows) > 0 {
		key := contracts.ResultKey(mb.Index, attempt, w.cfg.Name)
		body := bytes.NewReader(rows)
		if err := w.retryBroker(ctx, "writing rows", writeTimeout, func(c context.Context) error {
			_, _ = body.Seek(0, 0)
			return jr.staging.Put(c, key, body)
		}); err != nil {
			rec.Succeeded, rec.Failed = 0, 0
			rec.Result, rec.ErrorType, rec.Error = contracts.ResultTransient, "Transient", "writing the rows: "+err.Error()
			s.logAttempt(jr, rec, "")
			s.infraRetry(msg, mb, delivered, err)
			return
		}
		o.ResultKey = key
	}
	s.logAttempt(jr, rec, itemErrs.String())
	s.record(msg, jr, mb, o)
}

// record writes the outcome unless one exists and finishes the message.
func (s *slot) record(msg jetstream.Msg, jr *jobRun, mb contracts.MiniBatch, o contracts.BatchOutcome) {
	var (
		rev  uint64
		held contracts.BatchOutcome
	)
	err := s.w.retryBroker(s.w.ctx, "recording the outcome", opTimeout, func(c context.Context) (err error) {
		held, rev, err = s.w.cfg.Ledger.Record(c, mb.JobID, o)
		return err
	})
	if err != nil {
		s.infraRetry(msg, mb, 0, err)
		return
	}
	if held.Worker == o.Worker && held.Attempt == o.Attempt {
		s.w.cfg.Metrics.Outcome(o.OK, o.Succeeded, o.Failed)
	}
	o = held
	s.finish(msg, jr, o, rev)
}

// finish counts a recorded outcome (exactly once, however often it is
// called), finalises the job if this was its last batch, and acks.
func (s *slot) finish(msg jetstream.Msg, jr *jobRun, o contracts.BatchOutcome, rev uint64) {
	w, l := s.w, s.w.cfg.Ledger
	mb := contracts.MiniBatch{JobID: jr.job.ID, Index: o.Index}
	var done int64
	if err := w.retryBroker(w.ctx, "counting the outcome", opTimeout, func(c context.Context) (err error) {
		done, err = l.Count(c, jr.job, o, rev)
		return err
	}); err != nil {
		s.infraRetry(msg, mb, 0, err)
		return
	}
	if err := w.retryBroker(w.ctx, "finalising the job", 0, func(c context.Context) error {
		return l.MaybeFinalize(c, jr.job, done, func() { _ = msg.InProgress() })
	}); err != nil {
		if !permanentPrepare(err) {
			// The message comes back and the finalisation is tried again.
			s.infraRetry(msg, mb, 0, err)
			return
		}
		w.cfg.Logger.Error("finalising the job failed", "job", jr.job.ID, "err", err)
		if _, serr := l.Stop(w.ctx, jr.job.ID, contracts.StateFailed, "finalising: "+err.Error()); serr != nil {
			s.infraRetry(msg, mb, 0, err)
			return
		}
	}
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(w.ctx, 5*time.Second)
		err := msg.DoubleAck(ctx)
		cancel()
		if err == nil || try == 5 || w.ctx.Err() != nil {
			// A lost ack only brings the message back; its outcome is recorded.
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// infraRetry sends a message back after an error of storage or the broker,
// without spending the user's run_max_try.
func (s *slot) infraRetry(msg jetstream.Msg, mb contracts.MiniBatch, delivered int, cause error) {
	w := s.w
	w.cfg.Logger.Warn("mini-batch goes back to the queue (storage or broker error; no try spent)",
		"job", mb.JobID, "batch", mb.Index, "err", cause)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.cfg.Ledger.AddInfraFailure(ctx, mb.JobID, mb.Index); err != nil {
		w.cfg.Logger.Warn("could not record the lost delivery; it will spend a try", "err", err)
	}
	_ = msg.NakWithDelay(retryDelay(max(delivered, 1), w.cfg.RetryBase, w.cfg.RetryMax))
}

// batchCount is what an attempt learned of its batch's items.
type batchCount struct {
	// items is the number of items: files, or a tabular piece's rows
	// (malformed ones included) once it is read.
	items int
	// malformed is the number of a tabular piece's malformed rows: failed
	// items that never reach the handler and do not fail the mini-batch.
	malformed int
}

// run stages a batch's inputs, gives it to the slot's handler under
// run_invocation_timeout and returns what the handler returned, and what it
// learned of the batch's items. The malformed rows of a tabular piece are
// added to the item errors; a piece without a well-formed row does not call
// the handler.
func (s *slot) run(jr *jobRun, mb contracts.MiniBatch, attempt int) (Result, batchCount, error) {
	n := batchCount{items: mb.ItemCount()}
	res, err := s.runHandler(jr, mb, attempt, &n)
	return res, n, err
}

func (s *slot) runHandler(jr *jobRun, mb contracts.MiniBatch, attempt int, n *batchCount) (Result, error) {
	w := s.w
	if s.hJob != jr {
		s.closeHandler()
		env := &JobEnv{
			Job: jr.job, SourceDir: jr.source, EntryScript: jr.script, SideInputs: jr.side,
			Model: jr.model, Labels: jr.labels,
			WorkDir:   filepath.Join(jr.dir, "slots", strconv.Itoa(s.index)),
			OutputDir: filepath.Join(jr.dir, "output"),
			LogDir:    filepath.Join(jr.dir, "logs"),
			Worker:    w.cfg.Name, Slot: s.index,
		}
		s.out = jr.log.Load().lines(contracts.LogStdout(w.cfg.Host, w.cfg.Name), w.cfg.Stdout)
		s.errOut = jr.log.Load().lines(contracts.LogStderr(w.cfg.Host, w.cfg.Name), w.cfg.Stderr)
		env.Stdout, env.Stderr = s.out, s.errOut
		for _, d := range []string{env.WorkDir, env.OutputDir, env.LogDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return Result{}, &TransientError{Err: err}
			}
		}
		jr.log.Load().watch(filepath.Join(env.LogDir, contracts.EntryScriptLogFile), contracts.LogEntryScript(w.cfg.Host, w.cfg.Name))
		f := w.cfg.Handlers[jr.job.Config.Handler]
		if f == nil {
			return Result{}, &ScriptError{Type: "UnknownHandler", Message: fmt.Sprintf("this worker has no %q handler", jr.job.Config.Handler)}
		}
		h, err := f(jr.ctx, env)
		if err != nil {
			return Result{}, asInitError(err)
		}
		s.handler, s.hJob = h, jr
	}
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	stop := context.AfterFunc(jr.ctx, cancel)
	defer stop()
	// Init is a no-op while the handler is ready; after a timeout or a crash
	// it starts the script again and runs init() outside run()'s timeout.
	start := time.Now()
	if err := s.handler.Init(ctx); err != nil {
		return Result{}, asInitError(err)
	}
	if d := time.Since(start); d > time.Millisecond {
		w.cfg.Metrics.Init(d)
	}
	b := &Batch{JobID: mb.JobID, Index: mb.Index, Attempt: attempt, Items: mb.Items, Partition: mb.Partition}
	var bad []ItemError
	if mb.Piece != nil {
		store := jr.input
		if mb.Piece.Staged {
			store = jr.staging
		}
		var (
			err   error
			items int
		)
		if b.Table, bad, items, err = ReadTable(ctx, store, *mb.Piece); err != nil {
			return Result{}, err
		}
		n.items, n.malformed = items, len(bad)
		if b.Table.Rows == 0 {
			return Result{ItemErrors: bad}, nil
		}
	} else {
		cleanup, err := s.stage(ctx, jr, b)
		defer cleanup()
		if err != nil {
			return Result{}, err
		}
	}
	runCtx, cancelRun := context.WithTimeout(ctx, time.Duration(jr.job.Config.RunInvocationTimeout)*time.Second)
	defer cancelRun()
	res, err := s.handler.Run(runCtx, b)
	if err != nil && runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil && !errors.Is(err, ErrRunTimeout) {
		err = fmt.Errorf("%w: %w", ErrRunTimeout, err)
	}
	res.ItemErrors = append(bad, res.ItemErrors...)
	return res, err
}

// stage gives every item a local path: the file itself for a local input,
// a downloaded copy otherwise.
func (s *slot) stage(ctx context.Context, jr *jobRun, b *Batch) (func(), error) {
	b.Paths = make([]string, len(b.Items))
	lp, local := jr.input.(objstore.LocalPather)
	dir := filepath.Join(jr.dir, "slots", strconv.Itoa(s.index), "batch")
	cleanup := func() { _ = os.RemoveAll(dir) }
	for i, it := range b.Items {
		if local {
			if p, ok := lp.LocalPath(it.Key); ok {
				b.Paths[i] = p
				continue
			}
		}
		// The key's folders are kept (scripts may read them), cleaned so
		// that a key with ".." stays inside dir.
		dst := filepath.Join(dir, strconv.Itoa(i), filepath.FromSlash(path.Clean("/"+it.Key)))
		if err := objstore.Download(ctx, jr.input, it.Key, dst); err != nil {
			if objstore.IsTransient(err) || ctx.Err() != nil {
				return cleanup, &TransientError{Err: err}
			}
			return cleanup, &ScriptError{Type: "InputError", Message: fmt.Sprintf("fetching %s: %v", jr.input.URI(it.Key), err)}
		}
		b.Paths[i] = dst
	}
	return cleanup, nil
}

// logAttempt adds an attempt to the worker's share of the job's logs.
func (s *slot) logAttempt(jr *jobRun, rec contracts.AttemptRecord, tb string) {
	l := jr.log.Load()
	if l == nil {
		return
	}
	rec.Worker, rec.Host, rec.PID = s.w.cfg.Name, s.w.cfg.Host, os.Getpid()
	l.attempt(rec, tb)
}

// errorMessage is an error's message without its type (which the record
// holds apart), for a script's error.
func errorMessage(err error) string {
	var se *ScriptError
	if errors.As(err, &se) && se.Message != "" {
		if errors.Is(err, ErrRunTimeout) {
			return ErrRunTimeout.Error()
		}
		return se.Message
	}
	return err.Error()
}

// traceback returns a script error's traceback, if it has one.
func traceback(err error) string {
	var se *ScriptError
	if errors.As(err, &se) {
		return se.Traceback
	}
	return ""
}

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

func heartbeat(ctx context.Context, msg jetstream.Msg, every time.Duration, m Metrics) {
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if msg.InProgress() == nil {
				m.Heartbeat()
			}
		}
	}
}

// retryDelay is the delay before attempt+1, from an exponential backoff.
func retryDelay(attempt int, base, maxDelay time.Duration) time.Duration {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(base),
		backoff.WithMaxInterval(maxDelay),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.2),
		backoff.WithMaxElapsedTime(0),
	)
	d := b.NextBackOff()
	for i := 1; i < attempt; i++ {
		d = b.NextBackOff()
	}
	return d
}

func failedOutcome(mb contracts.MiniBatch, items, attempt int, worker, etype, msg string) contracts.BatchOutcome {
	return contracts.BatchOutcome{
		Index: mb.Index, Attempt: attempt, Items: items, Failed: items,
		ErrorType: etype, Error: msg, Worker: worker,
	}
}

func asInitError(err error) error {
	var ie *InitError
	if errors.As(err, &ie) {
		return err
	}
	return &InitError{Err: err}
}

func errorType(err error) string {
	var se *ScriptError
	switch {
	case errors.Is(err, ErrRunTimeout):
		return "Timeout"
	case errors.As(err, &se):
		return se.Type
	default:
		return "Error"
	}
}

// FormatRows renders rows as the final file's lines: a JSON string as its
// text, any other value as compact JSON, each followed by a newline.
func FormatRows(rows []json.RawMessage) []byte {
	b, _ := resultfmt.Body(resultfmt.Text, nil, rows) // never fails without columns
	return b
}
