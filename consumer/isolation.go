package consumer

import (
	"errors"
	"fmt"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// isolation decides which items of a mini-batch fail when its run() fails
// as a whole (isolate_failures): a failing part of more than one item is
// run again in halves, recursively, until the items that still fail are
// single items. It goes depth first, left half first, so the rows of the
// parts that return come in input order. For k bad items among n it makes
// at most 2·k·⌈log2 n⌉ run() calls, and never more than max: the items
// still undecided then fail together.
//
// isolation knows nothing of slots, messages or storage: run, stop and name
// are given, so that it is tested and measured with plain functions.
type isolation struct {
	// n is the number of items given to run(); max caps the calls.
	n, max int
	// run runs the items [lo, hi) as a part of their own.
	run func(lo, hi int) (Result, error)
	// stop tells whether a part's error ends the isolation with no outcome:
	// storage or the broker failed, the worker or the job stops.
	stop func(err error) bool
	// name names item i ("f00017.txt", "data.csv: row 17"); table says
	// that items are a table's rows, named in their ItemErrors (Index -1).
	name  func(i int) string
	table bool

	// calls counts the run() calls made; halted is the error that ended the
	// isolation early; cut, once set, is why the parts left are not run
	// (the cap, or init() failing): their items fail together.
	calls  int
	halted error
	cut    error
	// open is the index in parts of the record of undecided items that the
	// next undecided items join when they start at openHi (-1: none).
	open, openLo, openHi int
	// last is the latest error of a part, named when items are cut.
	last error
	// res holds the rows of the parts that returned, in input order, and
	// the item errors; raised counts the items that failed alone or cut.
	res    Result
	raised int
	// parts are the records of the parts, in the order they ran.
	parts []partRecord
}

// partRecord is the record of one part of an isolation, and its traceback.
type partRecord struct {
	rec       contracts.AttemptRecord
	traceback string
}

// errIsolationLimit cuts an isolation that reached isolate_max_calls.
var errIsolationLimit = errors.New("isolate_max_calls reached")

// newIsolation returns the isolation of n items, with at most maxCalls
// of run.
func newIsolation(n, maxCalls int, run func(lo, hi int) (Result, error), stop func(error) bool, name func(int) string, table bool) *isolation {
	return &isolation{n: n, max: maxCalls, run: run, stop: stop, name: name, table: table, open: -1}
}

// isolate decides the items [0, n). first is the error of the whole
// mini-batch's run(), which began at start and took took; a nil first (a
// redelivery taking up an isolation lost with its worker) runs the whole
// again first.
func (iso *isolation) isolate(first error, start time.Time, took time.Duration) {
	if first == nil {
		iso.part(0, iso.n)
		return
	}
	iso.failed(0, iso.n, first, start, took)
}

// part runs the items [lo, hi) and keeps their rows, or isolates them when
// run() fails.
func (iso *isolation) part(lo, hi int) {
	if iso.halted != nil {
		return
	}
	if iso.cut == nil && iso.calls >= iso.max {
		iso.cut = errIsolationLimit
	}
	if iso.cut != nil {
		iso.undecided(lo, hi)
		return
	}
	iso.calls++
	start := time.Now()
	res, err := iso.run(lo, hi)
	took := time.Since(start)
	var ie *InitError
	switch {
	case err == nil:
		iso.keep(lo, hi, res, start, took)
	case iso.stop(err):
		iso.halted = err
	case errors.As(err, &ie):
		// init() fails whatever the items: no part can run any more.
		iso.cut = err
		iso.undecided(lo, hi)
	default:
		iso.failed(lo, hi, err, start, took)
	}
}

// failed records a part whose run() failed with err: a single item fails
// alone, more items are run again in halves.
func (iso *isolation) failed(lo, hi int, err error, start time.Time, took time.Duration) {
	iso.last = err
	rec := iso.record(lo, hi, start, took)
	rec.ErrorType, rec.Error = errorType(err), errorMessage(err)
	if hi-lo == 1 {
		rec.Result, rec.Failed = contracts.ResultFailed, 1
		iso.parts = append(iso.parts, partRecord{rec: rec, traceback: traceback(err)})
		iso.fail(lo, rec.ErrorType+": "+rec.Error)
		return
	}
	rec.Result = contracts.ResultSplit
	iso.parts = append(iso.parts, partRecord{rec: rec})
	mid := lo + (hi-lo)/2
	iso.part(lo, mid)
	iso.part(mid, hi)
}

// keep records a part whose run() returned and keeps its rows and item
// errors (their places made the mini-batch's).
func (iso *isolation) keep(lo, hi int, res Result, start time.Time, took time.Duration) {
	rec := iso.record(lo, hi, start, took)
	t := Tally{Items: hi - lo, Rows: len(res.Rows)}
	rec.Succeeded, rec.Failed = t.Succeeded(), t.Failed()
	rec.Result = contracts.ResultSucceeded
	if rec.Failed > 0 {
		rec.Result = contracts.ResultPartial
	}
	rec.ErrorType, rec.Error = t.Note()
	for _, ie := range res.ItemErrors {
		if ie.Index >= 0 {
			ie.Index += lo
		}
		iso.res.ItemErrors = append(iso.res.ItemErrors, ie)
	}
	if len(res.ItemErrors) > 0 {
		rec.ErrorType, rec.Error = "ItemError", fmt.Sprintf("%d of %d items failed; first: %s", len(res.ItemErrors), hi-lo, res.ItemErrors[0].Err)
	}
	iso.res.Rows = append(iso.res.Rows, res.Rows...)
	if iso.res.Columns == nil {
		iso.res.Columns = res.Columns
	}
	iso.parts = append(iso.parts, partRecord{rec: rec})
}

// undecided fails the items [lo, hi) together, for the reason of iso.cut;
// one record holds adjoining undecided items.
func (iso *isolation) undecided(lo, hi int) {
	etype, msg := iso.cutReason()
	if k := len(iso.parts) - 1; k >= 0 && iso.open == k && iso.openHi == lo {
		r := &iso.parts[k].rec
		r.Items += hi - lo
		r.Failed = r.Items
		r.Part = partName(iso.openLo, hi)
	} else {
		rec := iso.record(lo, hi, time.Now(), 0)
		rec.Result, rec.Failed, rec.ErrorType, rec.Error = contracts.ResultFailed, hi-lo, etype, msg
		iso.parts = append(iso.parts, partRecord{rec: rec})
		iso.open, iso.openLo = len(iso.parts)-1, lo
	}
	iso.openHi = hi
	for i := lo; i < hi; i++ {
		iso.fail(i, etype+": "+msg)
	}
}

// cutReason names and explains why items are left undecided.
func (iso *isolation) cutReason() (etype, msg string) {
	var ie *InitError
	if errors.As(iso.cut, &ie) {
		return errorType(ie), "init() failed during the isolation, so these items fail together: " + errorMessage(ie)
	}
	msg = fmt.Sprintf("isolate_max_calls (%d) reached before these items were isolated; they fail together", iso.max)
	if iso.last != nil {
		msg += fmt.Sprintf(" (the last error: %s: %s)", errorType(iso.last), errorMessage(iso.last))
	}
	return "IsolationLimit", msg
}

// fail makes item i a failed item with message msg.
func (iso *isolation) fail(i int, msg string) {
	iso.raised++
	ie := ItemError{Index: i, Err: msg}
	if iso.table {
		ie = ItemError{Index: -1, Item: iso.name(i), Err: msg}
	}
	iso.res.ItemErrors = append(iso.res.ItemErrors, ie)
}

// record is the start of the record of the part [lo, hi).
func (iso *isolation) record(lo, hi int, start time.Time, took time.Duration) contracts.AttemptRecord {
	return contracts.AttemptRecord{Part: partName(lo, hi), Items: hi - lo, FirstItem: iso.name(lo), Start: start.UTC(), Seconds: took.Seconds()}
}

// partName names the items [lo, hi) by their 0-based places in the
// mini-batch: "items 0-24", "item 17".
func partName(lo, hi int) string {
	if hi-lo == 1 {
		return fmt.Sprintf("item %d", lo)
	}
	return fmt.Sprintf("items %d-%d", lo, hi-1)
}
