package joblogs_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
)

// The report has one row for the counted attempt of every mini-batch with
// an outcome, whether its worker's record survived or not, never two; the
// rows of other attempts come from the records.
func TestReportRowsHoldOneCountedRowPerMiniBatch(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	rec := func(i int64, attempt int, worker, result string, start int) contracts.AttemptRecord {
		return contracts.AttemptRecord{Job: "j", Index: i, Attempt: attempt, Worker: worker, Result: result, Start: at(start), Items: 2}
	}
	recs := []contracts.AttemptRecord{
		// 0: retried, then succeeded; both records survived.
		rec(0, 1, "a", contracts.ResultRetried, 0), rec(0, 2, "b", contracts.ResultSucceeded, 5),
		// 1: its counted attempt's worker died before it flushed; the
		// retry before it survived.
		rec(1, 1, "a", contracts.ResultRetried, 1),
		// 2: a transient delivery, then the same try again; the counted
		// record is there twice (flushed twice from two spool parts).
		rec(2, 1, "a", contracts.ResultTransient, 2), rec(2, 1, "c", contracts.ResultSucceeded, 6), rec(2, 1, "c", contracts.ResultSucceeded, 6),
		// 3: a duplicate attempt taken over after its ack wait.
		rec(3, 1, "a", contracts.ResultDuplicate, 3), rec(3, 1, "b", contracts.ResultSucceeded, 4),
		// 5: a retried attempt of a batch without an outcome yet.
		rec(5, 1, "a", contracts.ResultRetried, 3),
	}
	outcomes := []contracts.BatchOutcome{
		{Index: 0, Attempt: 2, Worker: "b", Result: contracts.ResultSucceeded, OK: true, Items: 2, Succeeded: 2},
		{Index: 1, Attempt: 2, Worker: "d", Host: "h", PID: 42, Start: at(9), Seconds: 1.5, FirstItem: "x.txt",
			Result: contracts.ResultPartial, Items: 2, Succeeded: 1, Failed: 1, ErrorType: "PartialResult", Error: "run() returned 1 rows for 2 items"},
		{Index: 2, Attempt: 1, Worker: "c", Result: contracts.ResultSucceeded, OK: true, Items: 2, Succeeded: 2},
		{Index: 3, Attempt: 1, Worker: "b", Result: contracts.ResultSucceeded, OK: true, Items: 2, Succeeded: 2},
		// 4: no record at all; an outcome of a worker older than Result.
		{Index: 4, Attempt: 3, Worker: "e", OK: false, ErrorType: "MaxTriesExceeded", Items: 2, Failed: 2, Finished: at(20)},
	}
	rows := joblogs.ReportRows("j", recs, outcomes)
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%d/%d/%s/%s", r.Index, r.Attempt, r.Worker, r.Result))
	}
	want := []string{
		"0/1/a/retried", "0/2/b/succeeded",
		"1/1/a/retried", "1/2/d/partial",
		"2/1/a/transient", "2/1/c/succeeded",
		"3/1/a/duplicate", "3/1/b/succeeded",
		"4/3/e/lost",
		"5/1/a/retried",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows\n %q\nwant\n %q", got, want)
	}
	// The row built from an outcome is the row its worker would have written.
	want1 := contracts.AttemptRecord{Job: "j", Index: 1, Attempt: 2, Worker: "d", Host: "h", PID: 42, Items: 2, Succeeded: 1, Failed: 1,
		Start: at(9), Seconds: 1.5, Result: contracts.ResultPartial, ErrorType: "PartialResult", Error: "run() returned 1 rows for 2 items", FirstItem: "x.txt"}
	if rows[3] != want1 {
		t.Fatalf("row of batch 1 from its outcome:\n %+v\nwant\n %+v", rows[3], want1)
	}
	if !rows[8].Start.Equal(at(20)) {
		t.Fatalf("an outcome without a start is dated by its finish: %v", rows[8].Start)
	}
}

// An isolation's parts (isolate_failures) are rows of their own, never
// taken for the counted attempt's row: they come after the rows of a
// transient delivery of the same try and before the attempt's own row,
// which the outcome gives (with its extra calls) when its worker died.
func TestReportRowsKeepAnIsolationsParts(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	part := func(i int64, worker, result, name string, items, failed, start int) contracts.AttemptRecord {
		return contracts.AttemptRecord{Job: "j", Index: i, Attempt: 1, Worker: worker, Result: result, Part: name, Items: items, Failed: failed, Start: at(start)}
	}
	own := func(i int64, worker string, start int) contracts.AttemptRecord {
		return contracts.AttemptRecord{Job: "j", Index: i, Attempt: 1, Worker: worker, Result: contracts.ResultPartial, Items: 4, Succeeded: 3, Failed: 1,
			Start: at(start), ExtraCalls: 4}
	}
	recs := []contracts.AttemptRecord{
		// 0: every record survived; the first part began with the attempt.
		own(0, "a", 10),
		part(0, "a", contracts.ResultSplit, "items 0-3", 4, 0, 10), part(0, "a", contracts.ResultSucceeded, "items 0-1", 2, 0, 11),
		part(0, "a", contracts.ResultSplit, "items 2-3", 2, 0, 12), part(0, "a", contracts.ResultFailed, "item 2", 1, 1, 13),
		part(0, "a", contracts.ResultSucceeded, "item 3", 1, 0, 14),
		{Job: "j", Index: 0, Attempt: 1, Worker: "b", Result: contracts.ResultTransient, Items: 4, Start: at(1)},
		// 1: the parts were flushed, the attempt's own record was not.
		part(1, "c", contracts.ResultSplit, "items 0-3", 4, 0, 20), part(1, "c", contracts.ResultFailed, "item 0", 1, 1, 21),
	}
	outcomes := []contracts.BatchOutcome{
		{Index: 0, Attempt: 1, Worker: "a", Result: contracts.ResultPartial, Items: 4, Succeeded: 3, Failed: 1, ExtraCalls: 4},
		{Index: 1, Attempt: 1, Worker: "c", Result: contracts.ResultPartial, Items: 4, Succeeded: 3, Failed: 1, ExtraCalls: 2, Start: at(20)},
	}
	rows := joblogs.ReportRows("j", recs, outcomes)
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%d/%s/%s/%s/%d", r.Index, r.Worker, r.Result, r.Part, r.ExtraCalls))
	}
	want := []string{
		"0/b/transient//0",
		"0/a/split/items 0-3/0", "0/a/succeeded/items 0-1/0", "0/a/split/items 2-3/0", "0/a/failed/item 2/0", "0/a/succeeded/item 3/0",
		"0/a/partial//4",
		"1/c/split/items 0-3/0", "1/c/failed/item 0/0",
		"1/c/partial//2",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rows\n %q\nwant\n %q", got, want)
	}
}
