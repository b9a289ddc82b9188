package consumer

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	script := &ScriptError{Type: "ValueError", Message: "bad"}
	for _, tc := range []struct {
		name            string
		err             error
		stopping, ended bool
		want            errKind
	}{
		{"returned", nil, false, false, kindNone},
		{"script error", script, false, false, kindScript},
		{"plain error", errors.New("x"), false, false, kindScript},
		{"init error", &InitError{Err: script}, false, false, kindInit},
		{"timeout", fmt.Errorf("%w: %w", ErrRunTimeout, script), false, false, kindTimeout},
		{"transient", &TransientError{Err: errors.New("503")}, false, false, kindTransient},
		{"worker stopping whatever the handler said", script, true, false, kindWorkerStopping},
		{"worker stopping after rows", nil, true, true, kindWorkerStopping},
		{"job stopped", nil, false, true, kindJobStopped},
		{"job stopped during a script error", script, false, true, kindJobStopped},
	} {
		if got := classify(tc.err, tc.stopping, tc.ended); got != tc.want {
			t.Errorf("%s: classify = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestDecide covers every case README's "How results are counted exactly
// once" and "Tries" describe: what happens to a message, and what its
// attempt records.
func TestDecide(t *testing.T) {
	t.Parallel()
	script := &ScriptError{Type: "ValueError", Message: "bad input", Traceback: "Traceback ...\nValueError: bad input"}
	transient := &TransientError{Err: errors.New("503 SlowDown")}
	lookup := errors.New("nats: timeout")
	// ran is the facts of an attempt that was made at try delivered-infra.
	ran := func(delivered, infra, items int, kind errKind, err error) facts {
		return facts{delivered: delivered, infra: infra, maxTry: 3, tried: true, tally: Tally{Items: items}, kind: kind, err: err}
	}
	returned := func(items, malformed, rows int) facts {
		f := ran(1, 0, items, kindNone, nil)
		f.tally.Malformed, f.tally.Rows, f.rowsKey = malformed, rows, "results/0/1-w.jsonl"
		return f
	}
	withItemErrors := returned(4, 0, 2)
	withItemErrors.itemErrors = []string{"a.png: cannot decode", "c.png: cannot decode"}
	panicked := &PanicError{Where: "the worker handling the mini-batch", Value: "boom"}
	outputErr := returned(3, 0, 3)
	outputErr.kind, outputErr.err, outputErr.rowsKey = kindOutput, errors.New("row 2 is not an array"), ""

	for _, tc := range []struct {
		name string
		f    facts
		want decision
	}{
		// Before the attempt.
		{"not a mini-batch", facts{kind: kindBadMessage, err: errors.New("not a mini-batch message: EOF")},
			decision{act: actTerm, reason: "not a mini-batch message: EOF"}},
		{"unknown job", facts{delivered: 1, kind: kindUnknownJob, err: errors.New("job j: no such job")},
			decision{act: actTerm, try: 1, reason: "job j: no such job"}},
		{"job stopped before the attempt", facts{delivered: 2, maxTry: 3, kind: kindJobStopped},
			decision{act: actTerm, try: 2, reason: "job stopped"}},
		{"broker error reading the job or outcome: hand back, no record", facts{delivered: 2, maxTry: 3, kind: kindTransient, err: lookup},
			decision{act: actHandBack, try: 2, backoff: 2}},
		{"first delivery runs", facts{delivered: 1, maxTry: 3, tally: Tally{Items: 5}},
			decision{act: actRun, try: 1}},
		{"redelivery with its outcome recorded: count and ack it", facts{delivered: 2, maxTry: 3, recorded: true},
			decision{act: actAck, try: 2}},
		{"recorded outcome holds even past run_max_try", facts{delivered: 9, maxTry: 3, recorded: true},
			decision{act: actAck, try: 9}},
		{"redelivery without outcome runs as the next try", facts{delivered: 3, maxTry: 3},
			decision{act: actRun, try: 3}},
		{"handed-back deliveries spend no try", facts{delivered: 5, infra: 3, maxTry: 3},
			decision{act: actRun, try: 2}},
		{"out of tries after lost deliveries", facts{delivered: 4, maxTry: 3, tally: Tally{Items: 5}},
			decision{act: actAck, try: 3,
				record:  contracts.AttemptRecord{Items: 5, Failed: 5, Result: contracts.ResultLost, ErrorType: "MaxTriesExceeded", Error: "the batch's worker was lost on its last try"},
				outcome: &contracts.BatchOutcome{Attempt: 3, Result: contracts.ResultLost, Items: 5, Failed: 5, ErrorType: "MaxTriesExceeded", Error: "the batch's worker was lost on its last try (3 of 3)"}}},
		{"hand-backs past maxInfraFailures spend tries", facts{delivered: 25, infra: 22, maxTry: 3, tally: Tally{Items: 1}},
			decision{act: actAck, try: 3,
				record:  contracts.AttemptRecord{Items: 1, Failed: 1, Result: contracts.ResultLost, ErrorType: "MaxTriesExceeded", Error: "the batch's worker was lost on its last try"},
				outcome: &contracts.BatchOutcome{Attempt: 3, Result: contracts.ResultLost, Items: 1, Failed: 1, ErrorType: "MaxTriesExceeded", Error: "the batch's worker was lost on its last try (3 of 3)"}}},

		// After the attempt: errors.
		{"script error before the last try: retry after a delay", ran(1, 0, 5, kindScript, script),
			decision{act: actRetry, try: 1, backoff: 1, traceback: script.Traceback,
				record: contracts.AttemptRecord{Items: 5, Failed: 5, Result: contracts.ResultRetried, ErrorType: "ValueError", Error: "bad input"}}},
		{"script error on the second of three tries after a hand-back", ran(3, 1, 5, kindScript, script),
			decision{act: actRetry, try: 2, backoff: 2, traceback: script.Traceback,
				record: contracts.AttemptRecord{Items: 5, Failed: 5, Result: contracts.ResultRetried, ErrorType: "ValueError", Error: "bad input"}}},
		{"last try failing: the batch fails with every item", ran(3, 0, 5, kindScript, script),
			decision{act: actAck, try: 3, traceback: script.Traceback,
				record:  contracts.AttemptRecord{Items: 5, Failed: 5, Result: contracts.ResultFailed, ErrorType: "ValueError", Error: "bad input"},
				outcome: &contracts.BatchOutcome{Attempt: 3, Result: contracts.ResultFailed, Items: 5, Failed: 5, ErrorType: "ValueError", Error: "bad input"}}},
		{"init error on the last try", ran(3, 0, 2, kindInit, &InitError{Err: &ScriptError{Type: "ImportError", Message: "no torch"}}),
			decision{act: actAck, try: 3,
				record:  contracts.AttemptRecord{Items: 2, Failed: 2, Result: contracts.ResultFailed, ErrorType: "ImportError", Error: "no torch"},
				outcome: &contracts.BatchOutcome{Attempt: 3, Result: contracts.ResultFailed, Items: 2, Failed: 2, ErrorType: "ImportError", Error: "no torch"}}},
		{"timeout before the last try", ran(2, 0, 2, kindTimeout, fmt.Errorf("%w: %w", ErrRunTimeout, &ScriptError{Type: "Timeout", Message: "killed"})),
			decision{act: actRetry, try: 2, backoff: 2,
				record: contracts.AttemptRecord{Items: 2, Failed: 2, Result: contracts.ResultRetried, ErrorType: "Timeout", Error: ErrRunTimeout.Error()}}},
		{"a job that cannot be prepared spends a try", ran(1, 0, 2, kindScript, &ScriptError{Type: "PrepareError", Message: "worker w could not prepare job j: not found"}),
			decision{act: actRetry, try: 1, backoff: 1,
				record: contracts.AttemptRecord{Items: 2, Failed: 2, Result: contracts.ResultRetried, ErrorType: "PrepareError", Error: "worker w could not prepare job j: not found"}}},
		{"transient error: hand back without a try, with a record", ran(2, 0, 4, kindTransient, transient),
			decision{act: actHandBack, try: 2, backoff: 2,
				record: contracts.AttemptRecord{Items: 4, Result: contracts.ResultTransient, ErrorType: "Transient", Error: "503 SlowDown"}}},
		{"storage failing while preparing: hand back, no record", facts{delivered: 1, maxTry: 3, tally: Tally{Items: 4}, kind: kindTransient, err: lookup},
			decision{act: actHandBack, try: 1, backoff: 1}},
		{"pulled while the worker drains: hand back at once, no record", facts{delivered: 2, maxTry: 3, tally: Tally{Items: 4}, kind: kindWorkerStopping},
			decision{act: actHandBack, try: 2}},
		{"worker stopping: hand back at once, no try spent", ran(3, 0, 4, kindWorkerStopping, script),
			decision{act: actHandBack, try: 3,
				record: contracts.AttemptRecord{Items: 4, Result: contracts.ResultTransient, ErrorType: "WorkerStopped", Error: "the worker stopped during the attempt"}}},
		{"job stopped during the attempt: dropped, no record", ran(1, 0, 4, kindJobStopped, nil),
			decision{act: actTerm, try: 1, reason: "job stopped"}},

		// Handling the message panicked outside the attempt.
		{"panic before the attempt: hand back, no try spent", facts{delivered: 2, infra: 0, maxTry: 3, tally: Tally{Items: 4}, kind: kindPanic, err: panicked},
			decision{act: actHandBack, try: 2, backoff: 2}},
		{"panic after the attempt: hand back with a record", facts{delivered: 3, infra: 1, maxTry: 3, tried: true, tally: Tally{Items: 4}, kind: kindPanic, err: panicked},
			decision{act: actHandBack, try: 2, backoff: 3,
				record: contracts.AttemptRecord{Items: 4, Result: contracts.ResultTransient, ErrorType: "Panic", Error: panicked.script().Message}}},
		{"panic after the outcome was recorded: count and ack it", facts{delivered: 30, infra: 25, maxTry: 3, recorded: true, kind: kindPanic, err: panicked},
			decision{act: actAck, try: 10}},
		{"panic after maxInfraFailures hand-backs: the batch fails", facts{delivered: 22, infra: maxInfraFailures, maxTry: 3, tally: Tally{Items: 4}, kind: kindPanic, err: panicked},
			decision{act: actAck, try: 2,
				record:  contracts.AttemptRecord{Items: 4, Failed: 4, Result: contracts.ResultFailed, ErrorType: "Panic", Error: panicked.script().Message + "; handed back 20 times without spending a try, the batch fails"},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultFailed, Items: 4, Failed: 4, ErrorType: "Panic", Error: panicked.script().Message + "; handed back 20 times without spending a try, the batch fails"}}},

		// After the attempt: rows.
		{"every item succeeded", returned(5, 0, 5),
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 5, Succeeded: 5, Result: contracts.ResultSucceeded},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultSucceeded, OK: true, Items: 5, Succeeded: 5, ResultKey: "results/0/1-w.jsonl"}}},
		{"fewer rows than items: partial", returned(5, 0, 3),
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 5, Succeeded: 3, Failed: 2, Result: contracts.ResultPartial, ErrorType: "PartialResult", Error: "run() returned 3 rows for 5 items"},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultPartial, Items: 5, Succeeded: 3, Failed: 2, ResultKey: "results/0/1-w.jsonl", ErrorType: "PartialResult", Error: "run() returned 3 rows for 5 items"}}},
		{"malformed rows fail alone", returned(6, 2, 4),
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 6, Succeeded: 4, Failed: 2, Result: contracts.ResultSucceeded},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultSucceeded, OK: true, Items: 6, Succeeded: 4, Failed: 2, ResultKey: "results/0/1-w.jsonl"}}},
		{"malformed rows and a missing row", returned(6, 2, 3),
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 6, Succeeded: 3, Failed: 3, Result: contracts.ResultPartial, ErrorType: "PartialResult", Error: "run() returned 3 rows for 4 items"},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultPartial, Items: 6, Succeeded: 3, Failed: 3, ResultKey: "results/0/1-w.jsonl", ErrorType: "PartialResult", Error: "run() returned 3 rows for 4 items"}}},
		{"more rows than files: every item succeeded once, the extra rows noted", returned(5, 0, 11),
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 5, Succeeded: 5, Result: contracts.ResultSucceeded, ErrorType: "ExtraRows", Error: extra(11, 5)},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultSucceeded, OK: true, Items: 5, Succeeded: 5, ResultKey: "results/0/1-w.jsonl", ErrorType: "ExtraRows", Error: extra(11, 5)}}},
		{"more rows than well-formed rows: malformed rows stay failed", returned(5, 2, 5),
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 5, Succeeded: 3, Failed: 2, Result: contracts.ResultSucceeded, ErrorType: "ExtraRows", Error: extra(5, 3)},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultSucceeded, OK: true, Items: 5, Succeeded: 3, Failed: 2, ResultKey: "results/0/1-w.jsonl", ErrorType: "ExtraRows", Error: extra(5, 3)}}},
		{"items the handler says failed", withItemErrors,
			decision{act: actAck, try: 1, traceback: "a.png: cannot decode\nc.png: cannot decode\n",
				record:  contracts.AttemptRecord{Items: 4, Succeeded: 2, Failed: 2, Result: contracts.ResultPartial, ErrorType: "ItemError", Error: "2 of 4 items failed; first: a.png: cannot decode"},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultPartial, Items: 4, Succeeded: 2, Failed: 2, ResultKey: "results/0/1-w.jsonl", ErrorType: "ItemError", Error: "2 of 4 items failed; first: a.png: cannot decode"}}},
		{"rows that cannot be written in the output format fail every item", outputErr,
			decision{act: actAck, try: 1,
				record:  contracts.AttemptRecord{Items: 3, Failed: 3, Result: contracts.ResultPartial, ErrorType: "OutputError", Error: "writing run()'s rows: row 2 is not an array"},
				outcome: &contracts.BatchOutcome{Attempt: 1, Result: contracts.ResultPartial, Items: 3, Failed: 3, ErrorType: "OutputError", Error: "writing run()'s rows: row 2 is not an array"}}},
	} {
		got := decide(tc.f)
		// The log note and the cause are what the worker says, not the fate.
		got.note, got.level, got.err = "", 0, nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", tc.name, describe(got), describe(tc.want))
		}
	}
}

func extra(rows, given int) string {
	return fmt.Sprintf("run() returned %d rows for %d items; the %d extra rows are kept in the output but not counted as items", rows, given, rows-given)
}

// Whatever run() returns, every item is counted once: succeeded or failed,
// never more succeeded than items.
func TestTallyCountsEachItemOnce(t *testing.T) {
	t.Parallel()
	for items := 0; items <= 6; items++ {
		for malformed := 0; malformed <= items; malformed++ {
			for raised := 0; raised <= items-malformed; raised++ {
				for rows := 0; rows <= 3*items+2; rows++ {
					tallyOnce(t, Tally{Items: items, Malformed: malformed, Raised: raised, Rows: rows})
				}
			}
		}
	}
}

// tallyOnce checks one Tally: every item counted once, the items that
// failed alone and the malformed rows failed whatever the rows.
func tallyOnce(t *testing.T, tl Tally) {
	t.Helper()
	returned := tl.Items - tl.Malformed - tl.Raised
	s, f := tl.Succeeded(), tl.Failed()
	if s+f != tl.Items || s > returned || f < tl.Malformed+tl.Raised || s < 0 {
		t.Fatalf("%+v: %d succeeded, %d failed", tl, s, f)
	}
	if tl.Extra() != max(0, tl.Rows-returned) {
		t.Fatalf("%+v: Extra %d", tl, tl.Extra())
	}
	typ, _ := tl.Note()
	want := ""
	if tl.Rows < returned {
		want = "PartialResult"
	} else if tl.Rows > returned {
		want = "ExtraRows"
	}
	if typ != want {
		t.Fatalf("%+v: Note %q, want %q", tl, typ, want)
	}
}

func describe(d decision) string {
	s := fmt.Sprintf("act=%d try=%d reason=%q backoff=%d record=%+v tb=%q", d.act, d.try, d.reason, d.backoff, d.record, d.traceback)
	if d.outcome != nil {
		s += fmt.Sprintf(" outcome=%+v", *d.outcome)
	}
	return s
}

// TestDecideIsolation covers isolate_failures: which failures are
// isolated, an isolation taken up after its worker died, and the outcome
// of an isolated attempt.
func TestDecideIsolation(t *testing.T) {
	t.Parallel()
	script := &ScriptError{Type: "ValueError", Message: "bad input"}
	timeout := fmt.Errorf("%w: %w", ErrRunTimeout, &ScriptError{Type: "Timeout", Message: "killed"})
	ran := func(delivered int, kind errKind, err error) facts {
		return facts{delivered: delivered, maxTry: 2, tried: true, ran: true, isolate: true, tally: Tally{Items: 10}, kind: kind, err: err}
	}
	off := ran(2, kindScript, script)
	off.isolate = false
	notRan := ran(2, kindScript, &ScriptError{Type: "PrepareError", Message: "no source"})
	notRan.ran = false
	part := partRecord{rec: contracts.AttemptRecord{Part: "item 3", Items: 1, Failed: 1, Result: contracts.ResultFailed, ErrorType: "ValueError", Error: "bad input"}, traceback: "tb"}
	isolated := ran(2, kindNone, nil)
	isolated.isolated, isolated.parts, isolated.extraCalls = true, []partRecord{part}, 8
	isolated.tally.Raised, isolated.tally.Rows, isolated.rowsKey = 1, 9, "results/0/2-w.jsonl"
	isolated.itemErrors = []string{"f3.txt: ValueError: bad input"}
	flaky := ran(2, kindNone, nil)
	flaky.isolated, flaky.extraCalls, flaky.tally.Rows, flaky.rowsKey = true, 2, 10, "results/0/2-w.jsonl"
	loadFailed := ran(2, kindScript, &ScriptError{Type: "InputError", Message: "gone"})
	loadFailed.isolated = true
	resumed := func(delivered, at int) facts {
		return facts{delivered: delivered, maxTry: 2, isolate: true, isolatedAt: at, tally: Tally{Items: 10}}
	}
	isolate := func(try int) decision { return decision{act: actIsolate, try: try} }

	for _, tc := range []struct {
		name string
		f    facts
		want decision
	}{
		{"run() raising on the last try is isolated", ran(2, kindScript, script), isolate(2)},
		{"run() timing out on the last try is isolated", ran(2, kindTimeout, timeout), isolate(2)},
		{"a failure before the last try is retried", ran(1, kindScript, script),
			decision{act: actRetry, try: 1, backoff: 1,
				record: contracts.AttemptRecord{Items: 10, Failed: 10, Result: contracts.ResultRetried, ErrorType: "ValueError", Error: "bad input"}}},
		{"without isolate_failures the batch fails", off,
			decision{act: actAck, try: 2,
				record:  contracts.AttemptRecord{Items: 10, Failed: 10, Result: contracts.ResultFailed, ErrorType: "ValueError", Error: "bad input"},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultFailed, Items: 10, Failed: 10, ErrorType: "ValueError", Error: "bad input"}}},
		{"init() failing is not isolated", ran(2, kindInit, &InitError{Err: script}),
			decision{act: actAck, try: 2,
				record:  contracts.AttemptRecord{Items: 10, Failed: 10, Result: contracts.ResultFailed, ErrorType: "ValueError", Error: "bad input"},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultFailed, Items: 10, Failed: 10, ErrorType: "ValueError", Error: "bad input"}}},
		{"a job that cannot be prepared is not isolated", notRan,
			decision{act: actAck, try: 2,
				record:  contracts.AttemptRecord{Items: 10, Failed: 10, Result: contracts.ResultFailed, ErrorType: "PrepareError", Error: "no source"},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultFailed, Items: 10, Failed: 10, ErrorType: "PrepareError", Error: "no source"}}},
		{"storage failing during the isolation hands back", func() facts {
			f := ran(2, kindTransient, &TransientError{Err: errors.New("503")})
			f.isolated = true
			return f
		}(),
			decision{act: actHandBack, try: 2, backoff: 2,
				record: contracts.AttemptRecord{Items: 10, Result: contracts.ResultTransient, ErrorType: "Transient", Error: "503"}}},
		{"an isolation whose batch cannot be loaded fails the batch", loadFailed,
			decision{act: actAck, try: 2,
				record:  contracts.AttemptRecord{Items: 10, Failed: 10, Result: contracts.ResultFailed, ErrorType: "InputError", Error: "gone"},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultFailed, Items: 10, Failed: 10, ErrorType: "InputError", Error: "gone"}}},
		{"isolated: only the item that failed alone fails", isolated,
			decision{act: actAck, try: 2, traceback: "f3.txt: ValueError: bad input\n", parts: []partRecord{part},
				record: contracts.AttemptRecord{Items: 10, Succeeded: 9, Failed: 1, Result: contracts.ResultPartial, ErrorType: "ItemError",
					Error: "1 of 10 items failed; first: f3.txt: ValueError: bad input", ExtraCalls: 8},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultPartial, Items: 10, Succeeded: 9, Failed: 1, ResultKey: "results/0/2-w.jsonl", ErrorType: "ItemError",
					Error: "1 of 10 items failed; first: f3.txt: ValueError: bad input"}}},
		{"isolated with no item failing: the batch succeeded", flaky,
			decision{act: actAck, try: 2,
				record:  contracts.AttemptRecord{Items: 10, Succeeded: 10, Result: contracts.ResultSucceeded, ExtraCalls: 2},
				outcome: &contracts.BatchOutcome{Attempt: 2, Result: contracts.ResultSucceeded, OK: true, Items: 10, Succeeded: 10, ResultKey: "results/0/2-w.jsonl"}}},
		{"a redelivery after an isolation lost with its worker isolates again", resumed(3, 2), isolate(3)},
		{"... up to run_max_try more deliveries", resumed(4, 2), isolate(4)},
		{"... then the batch is out of tries, lost on the last of those", resumed(5, 2),
			decision{act: actAck, try: 4,
				record: contracts.AttemptRecord{Items: 10, Failed: 10, Result: contracts.ResultLost, ErrorType: "MaxTriesExceeded", Error: "the batch's worker was lost on its last try"},
				outcome: &contracts.BatchOutcome{Attempt: 4, Result: contracts.ResultLost, Items: 10, Failed: 10, ErrorType: "MaxTriesExceeded",
					Error: "the batch's worker was lost on its last try (try 4: its isolation began on try 2 and was taken up 2 times)"}}},
		{"a recorded outcome holds over an isolation begun", func() facts { f := resumed(3, 2); f.recorded = true; return f }(),
			decision{act: actAck, try: 3}},
	} {
		got := decide(tc.f)
		got.note, got.level, got.err = "", 0, nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got  %+v\n want %+v", tc.name, describe(got), describe(tc.want))
		}
	}
}
