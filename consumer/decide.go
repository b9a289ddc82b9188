package consumer

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/parallelrun/prs/contracts"
)

// A message's fate is decided here, in one place: decide takes what a
// delivery of a mini-batch learned (facts) and returns one decision, which
// the slot's executor (execute.go) carries out. decide is pure: it reads
// nothing, writes nothing and keeps no time, so a table test covers it.

// errKind is what an error means for a message's fate.
type errKind int

const (
	kindNone           errKind = iota // nothing went wrong
	kindScript                        // the user's code failed, or the job cannot be prepared: spends a try
	kindInit                          // the handler's Init (init()) failed: spends a try
	kindTimeout                       // run() passed run_invocation_timeout: spends a try
	kindTransient                     // storage or the broker failed: no try spent
	kindWorkerStopping                // this worker stopped during the attempt: no try spent
	kindJobStopped                    // the job ended (failed, cancelled): the message is dropped
	kindUnknownJob                    // the job has no record: the message is dropped
	kindBadMessage                    // not a mini-batch message: dropped
	kindOutput                        // run()'s rows cannot be written in the output format
	kindPanic                         // handling the message panicked outside the attempt: no try spent, up to maxInfraFailures
)

// classify tells what an attempt's error means, the worker's and the job's
// end coming first: a worker that stops sends its batch back whatever the
// handler said, and a stopped job's messages are dropped.
func classify(err error, workerStopping, jobStopped bool) errKind {
	var (
		te *TransientError
		ie *InitError
	)
	switch {
	case workerStopping:
		return kindWorkerStopping
	case jobStopped:
		return kindJobStopped
	case err == nil:
		return kindNone
	case errors.As(err, &te):
		return kindTransient
	case errors.Is(err, ErrRunTimeout):
		return kindTimeout
	case errors.As(err, &ie):
		return kindInit
	default:
		return kindScript
	}
}

// facts is what one delivery of a mini-batch learned, in the order it
// learns it: the message, the job, what the ledger holds, then the attempt.
type facts struct {
	// kind and err say what went wrong (kindNone and nil when nothing did).
	kind errKind
	err  error
	// delivered counts the batch's deliveries in every publishing
	// generation (NumDelivered starts again with each); infra counts those
	// handed back before on storage or broker errors, after a panic outside
	// the attempt, or by a stopping worker (they spend no try).
	delivered, infra int
	// maxTry is the job's run_max_try.
	maxTry int
	// recorded is set when the batch has an outcome already: it holds,
	// whatever this delivery would do.
	recorded bool
	// tried is set once the attempt was made (it leaves a record): the
	// handler ran, or preparing the job failed for good.
	tried bool
	// tally counts the batch's items (before the attempt: the message's).
	tally Tally
	// itemErrors name the items that failed ("key: error"), in order.
	itemErrors []string
	// rowsKey is where the attempt's rows were written ("" when none were
	// or rows holds them).
	rowsKey string
	// rows are the attempt's rows when they are small enough to ride in
	// its outcome (inline_rows_max).
	rows []byte
	// filesKey is where the files of its output_dir were put ("" for none).
	filesKey string

	// isolate is the job's isolate_failures; isolatedAt is the try on
	// which the batch's isolation began (0: none did), read for a
	// redelivery.
	isolate    bool
	isolatedAt int
	// ran is set once the attempt reached the handler (the job was
	// prepared): only a failure there may be isolated.
	ran bool
	// isolated is set once the isolation ran: parts are the records of its
	// run() calls, extraCalls how many it made.
	isolated   bool
	parts      []partRecord
	extraCalls int
}

// isolates tells whether the attempt's failure is isolated: run() raised
// or timed out on the last try of a job with isolate_failures.
func (f facts) isolates(try int) bool {
	return f.isolate && f.ran && !f.isolated && try >= f.maxTry && (f.kind == kindScript || f.kind == kindTimeout)
}

// resumesIsolation tells whether a delivery past the last try takes up an
// isolation lost with its worker: it may, run_max_try times.
func (f facts) resumesIsolation(try int) bool {
	return f.isolatedAt > 0 && try <= f.isolatedAt+f.maxTry
}

// errWorkerStopped is why a stopping worker hands a batch back.
var errWorkerStopped = errors.New("worker stopped")

// maxInfraFailures caps the deliveries that storage or broker errors (and
// panics outside the attempt) may take without spending a try, so that a
// failure that never heals still ends in the batch's failure instead of a
// loop.
const maxInfraFailures = 20

// try is the number of this try: deliveries, less those handed back on
// storage or broker errors (at most maxInfraFailures of them).
func (f facts) try() int { return f.delivered - min(f.infra, maxInfraFailures) }

// action is what the executor does with a message.
type action int

const (
	// actRun: nothing decides the message's fate yet; run the attempt and
	// decide again.
	actRun action = iota
	// actAck: record the outcome (unless one is recorded), count it, maybe
	// finalise the job, then ack.
	actAck
	// actRetry: count a retry, then NakWithDelay; the next try spends one.
	actRetry
	// actHandBack: count a delivery lost to storage or the broker, then
	// NakWithDelay; no try is spent.
	actHandBack
	// actTerm: TermWithReason; the message is dropped.
	actTerm
	// actIsolate: run() failed on the last try (or an isolation was lost
	// with its worker): run the batch again in parts (isolate.go) and
	// decide again.
	actIsolate
)

// decision is a message's fate.
type decision struct {
	act action
	// try is the number of this try.
	try int
	// reason is a Term's reason.
	reason string
	// backoff is the failure count the delay of a retry or hand-back grows
	// with; a hand-back with 0 is redelivered at once.
	backoff int
	// record is the attempt's record, less where and when it ran (the
	// executor adds them); a zero Result means the delivery leaves none.
	record contracts.AttemptRecord
	// traceback goes with the record into the worker's tracebacks.
	traceback string
	// parts are the records of an isolation's run() calls, logged before
	// the record.
	parts []partRecord
	// outcome is what actAck records, less its index and worker; nil keeps
	// the outcome recorded already.
	outcome *contracts.BatchOutcome
	// note, at level, tells the worker's log why; err is the cause.
	note  string
	level slog.Level
	err   error
}

// decide returns a message's fate from what its delivery learned. It is
// asked before the attempt (it may say run) and after it.
func decide(f facts) decision {
	try := f.try()
	switch f.kind {
	case kindBadMessage:
		return decision{act: actTerm, try: try, reason: f.err.Error(), note: "dropping a message that is not a mini-batch", level: slog.LevelError, err: f.err}
	case kindUnknownJob:
		return decision{act: actTerm, try: try, reason: f.err.Error(), note: "dropping a mini-batch of an unknown job", level: slog.LevelError, err: f.err}
	case kindJobStopped:
		return decision{act: actTerm, try: try, reason: "job stopped"}
	case kindWorkerStopping:
		// Scale-in: the batch goes back at once, for another worker to take
		// up now rather than after a delay or the ack wait.
		d := handBack(f, try, "WorkerStopped", "the worker stopped during the attempt", errWorkerStopped)
		d.backoff = 0
		return d
	case kindTransient:
		return handBack(f, try, "Transient", errorMessage(f.err), f.err)
	case kindPanic:
		return afterPanic(f, try)
	}
	switch {
	case f.recorded:
		return decision{act: actAck, try: try}
	case !f.tried && try > f.maxTry && f.resumesIsolation(try):
		return decision{act: actIsolate, try: try, note: "taking up an isolation lost with its worker", level: slog.LevelWarn}
	case !f.tried && try > f.maxTry:
		return outOfTries(f)
	case !f.tried:
		return decision{act: actRun, try: try}
	case f.kind == kindNone || f.kind == kindOutput:
		return done(f, try)
	case f.isolates(try):
		return decision{act: actIsolate, try: try, err: f.err, note: "mini-batch failed on its last try; isolating the items that fail", level: slog.LevelWarn}
	default:
		return failed(f, try)
	}
}

// handBack sends the message back without spending a try; an attempt that
// was made leaves a transient record.
func handBack(f facts, try int, etype, msg string, cause error) decision {
	d := decision{act: actHandBack, try: try, backoff: max(f.delivered, 1), err: cause}
	if f.tried {
		d.record = contracts.AttemptRecord{Items: f.tally.Items, Result: contracts.ResultTransient, ErrorType: etype, Error: msg}
	}
	return d
}

// afterPanic settles a delivery whose handling panicked outside the
// attempt: an outcome recorded before the panic holds, and is counted and
// acked. Else the batch goes back without spending a try, as after a
// storage or broker error, until maxInfraFailures hand-backs are spent;
// then it fails, for a panic that comes back with every delivery would
// send it back for ever. The job's error_threshold counts its items.
func afterPanic(f facts, try int) decision {
	if f.recorded {
		return decision{act: actAck, try: try}
	}
	if f.infra < maxInfraFailures {
		return handBack(f, try, "Panic", errorMessage(f.err), f.err)
	}
	n, etype := f.tally.Items, errorType(f.err)
	msg := fmt.Sprintf("%s; handed back %d times without spending a try, the batch fails", errorMessage(f.err), f.infra)
	return decision{
		act: actAck, try: try, err: f.err,
		record:  contracts.AttemptRecord{Items: n, Failed: n, Result: contracts.ResultFailed, ErrorType: etype, Error: msg},
		outcome: &contracts.BatchOutcome{Attempt: try, Result: contracts.ResultFailed, Items: n, Failed: n, ErrorType: etype, Error: msg},
		note:    "the worker panicked handling the mini-batch after its last hand-back; it fails", level: slog.LevelError,
	}
}

// outOfTries fails a batch whose last tries were lost with their workers:
// its record is the row of the last try, which its worker could not write.
// That is try run_max_try, or, for a batch whose isolation was taken up
// run_max_try times, the last of those.
func outOfTries(f facts) decision {
	n := f.tally.Items
	const lost = "the batch's worker was lost on its last try"
	last, detail := f.maxTry, fmt.Sprintf("%s (%d of %d)", lost, f.maxTry, f.maxTry)
	if f.isolatedAt > 0 {
		last = f.isolatedAt + f.maxTry
		detail = fmt.Sprintf("%s (try %d: its isolation began on try %d and was taken up %d times)", lost, last, f.isolatedAt, f.maxTry)
	}
	return decision{
		act: actAck, try: last,
		record:  contracts.AttemptRecord{Items: n, Failed: n, Result: contracts.ResultLost, ErrorType: "MaxTriesExceeded", Error: lost},
		outcome: &contracts.BatchOutcome{Attempt: last, Result: contracts.ResultLost, Items: n, Failed: n, ErrorType: "MaxTriesExceeded", Error: detail},
		note:    "mini-batch out of tries", level: slog.LevelWarn,
	}
}

// failed spends a try on the attempt's error: the batch comes back after a
// delay, or, on its last try, fails with all of its items.
func failed(f facts, try int) decision {
	n, etype := f.tally.Items, errorType(f.err)
	d := decision{
		act: actRetry, try: try, backoff: try, err: f.err,
		record:    contracts.AttemptRecord{Items: n, Failed: n, Result: contracts.ResultRetried, ErrorType: etype, Error: errorMessage(f.err)},
		traceback: traceback(f.err),
		note:      "attempt failed; trying again", level: slog.LevelWarn,
	}
	if try < f.maxTry {
		return d
	}
	d.act, d.backoff, d.record.Result = actAck, 0, contracts.ResultFailed
	d.note, d.level = "mini-batch failed on its last try", slog.LevelError
	d.outcome = &contracts.BatchOutcome{Attempt: try, Result: contracts.ResultFailed, Items: n, Failed: n, ErrorType: etype, Error: errorMessage(f.err)}
	return d
}

// done records what an attempt that returned gave, as Tally counts it.
// Rows that cannot be written in the output format fail every item.
func done(f facts, try int) decision {
	t := f.tally
	o := contracts.BatchOutcome{Attempt: try, Items: t.Items, Succeeded: t.Succeeded(), Failed: t.Failed(), ResultKey: f.rowsKey, FilesKey: f.filesKey, Rows: f.rows}
	// Malformed rows are failed items, but a mini-batch whose well-formed
	// rows all succeeded has not failed.
	o.OK = o.Failed <= t.Malformed
	o.ErrorType, o.Error = t.Note()
	if len(f.itemErrors) > 0 {
		o.ErrorType, o.Error = "ItemError", fmt.Sprintf("%d of %d items failed; first: %s", len(f.itemErrors), t.Items, f.itemErrors[0])
	}
	if f.kind == kindOutput {
		o.OK, o.Succeeded, o.Failed = false, 0, t.Items
		o.ErrorType, o.Error = "OutputError", "writing run()'s rows: "+f.err.Error()
	}
	result := contracts.ResultSucceeded
	if !o.OK {
		result = contracts.ResultPartial
	}
	o.Result = result
	var tb string
	if len(f.itemErrors) > 0 {
		tb = strings.Join(f.itemErrors, "\n") + "\n"
	}
	return decision{
		act: actAck, try: try, outcome: &o, traceback: tb, parts: f.parts,
		record: contracts.AttemptRecord{Items: t.Items, Succeeded: o.Succeeded, Failed: o.Failed, Result: result, ErrorType: o.ErrorType, Error: o.Error,
			ExtraCalls: f.extraCalls},
	}
}

// maxErrorMessage bounds the message a record or an outcome keeps: a
// script's exception message is the script's to choose, and an outcome
// larger than the KV's largest value could not be recorded at all.
const maxErrorMessage = 16 << 10

// errorMessage is an error's message without its type, which records and
// outcomes hold apart (ErrorType): whoever shows both shows it once. A
// message over maxErrorMessage bytes is cut, and says so.
func errorMessage(err error) string {
	return clipMessage(fullMessage(err), maxErrorMessage)
}

func fullMessage(err error) string {
	var se *ScriptError
	if errors.As(err, &se) && se.Message != "" {
		if errors.Is(err, ErrRunTimeout) {
			return ErrRunTimeout.Error()
		}
		return se.Message
	}
	if te := (*TransientError)(nil); errors.As(err, &te) {
		return te.Err.Error()
	}
	return err.Error()
}

// clipMessage cuts s to at most most bytes of its beginning, on a UTF-8
// boundary, and says how many bytes were cut.
func clipMessage(s string, most int) string {
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d more bytes of the message cut)", s[:cut], len(s)-cut)
}

// traceback returns a script error's traceback, if it has one.
func traceback(err error) string {
	var se *ScriptError
	if errors.As(err, &se) {
		return se.Traceback
	}
	return ""
}

// errorType names an error in records and outcomes.
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
