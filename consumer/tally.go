package consumer

import "fmt"

// Tally counts a mini-batch's items from what its handler returned: the
// one rule of succeeded and failed items, for a worker and for prs debug.
// Each row returned is one successful item, up to the items the handler was
// given; a missing row is a failed item, and so is each malformed row of a
// tabular piece (the handler never sees those) and each item that failed
// alone when the mini-batch was isolated (isolate_failures). Extra rows are
// kept in the output but count as nothing: Succeeded never exceeds Items,
// and Succeeded + Failed == Items.
type Tally struct {
	// Items is the number of items: files, or a tabular piece's rows
	// (malformed ones included) once it is read.
	Items int
	// Malformed is the number of a tabular piece's malformed rows: failed
	// items that never reach the handler and do not fail the mini-batch.
	Malformed int
	// Raised is the number of items that failed alone in an isolation: run()
	// raised or timed out on them (or the isolation's cap left them
	// undecided). No row is theirs.
	Raised int
	// Rows is the number of rows the handler returned.
	Rows int
}

// given is the number of items the handler was given.
func (t Tally) given() int { return t.Items - t.Malformed }

// returned is the number of items given whose run() returned rows.
func (t Tally) returned() int { return t.given() - t.Raised }

// Succeeded is the number of successful items: one per row, at most one
// per item whose run() returned.
func (t Tally) Succeeded() int { return min(t.Rows, t.returned()) }

// Failed is the number of failed items: the malformed rows, the items that
// failed alone, and one per row missing.
func (t Tally) Failed() int { return t.Malformed + t.Raised + max(0, t.returned()-t.Rows) }

// Extra is the number of rows beyond one per item whose run() returned.
func (t Tally) Extra() int { return max(0, t.Rows-t.returned()) }

// Note names and explains a row count that is not one per item whose
// run() returned: PartialResult for fewer rows, ExtraRows for more; "" when
// it is.
func (t Tally) Note() (errorType, message string) {
	switch {
	case t.Rows < t.returned():
		return "PartialResult", fmt.Sprintf("run() returned %d rows for %d items", t.Rows, t.returned())
	case t.Extra() > 0:
		return "ExtraRows", fmt.Sprintf("run() returned %d rows for %d items; the %d extra rows are kept in the output but not counted as items",
			t.Rows, t.returned(), t.Extra())
	}
	return "", ""
}
