package consumer

import "fmt"

// Tally counts a mini-batch's items from what its handler returned: the
// one rule of succeeded and failed items, for a worker and for prs debug.
// Each row returned is one successful item, up to the items the handler was
// given; a missing row is a failed item, and so is each malformed row of a
// tabular piece (the handler never sees those). Extra rows are kept in the
// output but count as nothing: Succeeded never exceeds Items, and
// Succeeded + Failed == Items.
type Tally struct {
	// Items is the number of items: files, or a tabular piece's rows
	// (malformed ones included) once it is read.
	Items int
	// Malformed is the number of a tabular piece's malformed rows: failed
	// items that never reach the handler and do not fail the mini-batch.
	Malformed int
	// Rows is the number of rows the handler returned.
	Rows int
}

// given is the number of items the handler was given.
func (t Tally) given() int { return t.Items - t.Malformed }

// Succeeded is the number of successful items: one per row, at most one
// per item given.
func (t Tally) Succeeded() int { return min(t.Rows, t.given()) }

// Failed is the number of failed items: the malformed rows, and one per
// row missing.
func (t Tally) Failed() int { return t.Malformed + max(0, t.given()-t.Rows) }

// Extra is the number of rows beyond one per item given.
func (t Tally) Extra() int { return max(0, t.Rows-t.given()) }

// Note names and explains a row count that is not one per item given:
// PartialResult for fewer rows, ExtraRows for more; "" when it is.
func (t Tally) Note() (errorType, message string) {
	switch {
	case t.Rows < t.given():
		return "PartialResult", fmt.Sprintf("run() returned %d rows for %d items", t.Rows, t.given())
	case t.Extra() > 0:
		return "ExtraRows", fmt.Sprintf("run() returned %d rows for %d items; the %d extra rows are kept in the output but not counted as items",
			t.Rows, t.given(), t.Extra())
	}
	return "", ""
}
