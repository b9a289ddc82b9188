package consumer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// poison is a run() that raises when its mini-batch holds a bad file,
// hangs until its deadline when it holds hang, and otherwise returns each
// file's name; calls counts its calls.
func poison(bad map[string]bool, hang string, calls *atomic.Int64) consumer.HandlerFunc {
	return func(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
		calls.Add(1)
		for _, p := range b.Paths {
			name := filepath.Base(p)
			if name == hang {
				<-ctx.Done()
				return consumer.Result{}, ctx.Err()
			}
			if bad[name] {
				return consumer.Result{}, &consumer.ScriptError{Type: "ValueError", Message: "cannot read " + name,
					Traceback: "Traceback (most recent call last):\nValueError: cannot read " + name}
			}
		}
		return echo(nil)(ctx, b)
	}
}

// waitFor waits until the file under the output holds every one of want.
func (b *bundle) waitFor(name string, want ...string) string {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(b.output, name))
		missing := ""
		for _, w := range want {
			if !strings.Contains(string(data), w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return string(data)
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s lacks %q:\n%s", name, missing, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// With isolate_failures a mini-batch whose run() raises or hangs on its
// last try keeps the rows of its good files, in order: only the bad files
// fail, each with its own error in the logs, within 2·k·⌈log2 n⌉ extra
// calls; a mini-batch counts as failed only when one of its files did.
// Without it, each such mini-batch fails whole.
func TestIsolateFailuresKeepsTheGoodItems(t *testing.T) {
	t.Parallel()
	bad := map[string]bool{"f00003.txt": true, "f00017.txt": true, "f00018.txt": true}
	const hang = "f00025.txt"
	failing := func(name string) bool { return bad[name] || name == hang }
	for _, isolate := range []bool{false, true} {
		t.Run(fmt.Sprint("isolate=", isolate), func(t *testing.T) {
			t.Parallel()
			b := newBundle(t, 40)
			var calls atomic.Int64
			b.workerWith(1, poison(bad, hang, &calls), func(c *consumer.Config) { c.LogFlush = 50 * time.Millisecond })
			c := b.config(10)
			c.RunMaxTry, c.RunInvocationTimeout, c.IsolateFailures = 1, 1, isolate
			id, st, cs := b.run(c)
			if st.State != contracts.StateCompleted || cs.Done != 4 {
				t.Fatalf("state %+v counters %+v", st, cs)
			}
			if !isolate {
				if cs.FailedBatches != 3 || cs.ItemsFailed != 30 || calls.Load() != 4 {
					t.Fatalf("counters %+v after %d calls; want 3 whole mini-batches failed", cs, calls.Load())
				}
				return
			}
			if cs.FailedBatches != 3 || cs.ItemsFailed != 4 || cs.ItemsSucceeded != 36 {
				t.Fatalf("counters %+v; want the 4 bad files failed alone", cs)
			}
			sameRows(t, b.rows("parallel_run_step.txt"), expectedRows(40, failing))
			bound := 2 * (1 + 2 + 1) * int(math.Ceil(math.Log2(10)))
			if extra := int(calls.Load()) - 4; extra <= 0 || extra > bound {
				t.Fatalf("%d extra run() calls, bound %d", extra, bound)
			}
			o, _, ok, err := b.ledger.Outcome(context.Background(), id, 1)
			if err != nil || !ok || o.OK || o.Failed != 2 || o.Succeeded != 8 || o.ErrorType != "ItemError" || !strings.Contains(o.Error, "f00017.txt: ValueError: cannot read f00017.txt") {
				t.Fatalf("outcome of mini-batch 1: %+v (%v)", o, err)
			}
			summary := b.waitFor(contracts.LogErrorSummary, "4 kinds of error", "1 x ValueError: cannot read f00003.txt", "failed items: f00003.txt (mini-batch 0)",
				"failed items: f00017.txt (mini-batch 1)", "failed items: f00018.txt (mini-batch 1)", "1 x Timeout: run() passed run_invocation_timeout",
				"failed items: f00025.txt (mini-batch 2)")
			if strings.Contains(summary, "ItemError") || strings.Contains(summary, "split") {
				t.Fatalf("error.txt counts an isolated mini-batch or a split part as an error:\n%s", summary)
			}
			report := b.waitFor(contracts.LogReport, ",part,extra_calls\n", ",split,ValueError,cannot read f00003.txt,items 0-9,\n",
				",failed,ValueError,cannot read f00003.txt,item 3,\n", ",failed,Timeout,", ",item 5,\n")
			if !strings.Contains(report, ",partial,ItemError,") {
				t.Fatalf("report without an isolated attempt's own row:\n%s", report)
			}
			b.waitFor("logs/user/error/"+hostOf(t, report)+"/test.txt", ", item 3 (first file f00003.txt)", "ValueError: cannot read f00003.txt")
		})
	}
}

// hostOf is the host of the report's first row.
func hostOf(t *testing.T, report string) string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(report)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("report %q: %v", report, err)
	}
	return recs[1][3]
}

// A tabular mini-batch is isolated row by row: each part is the table's
// header and a run of its rows, numbered as in the whole (FirstIndex); the
// rows that raise fail alone, named by their row in the file, and the
// malformed row stays a failed item that never reached run().
func TestIsolateFailuresOfATable(t *testing.T) {
	t.Parallel()
	b := newBundle(t, 0)
	var sb strings.Builder
	sb.WriteString("id,v\n")
	for i := range 30 {
		if i == 9 {
			sb.WriteString("9,ragged,row\n")
			continue
		}
		fmt.Fprintf(&sb, "%d,\"value %d\"\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(b.input, "data.csv"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	badIDs := map[string]bool{"4": true, "21": true}
	b.workerWith(1, consumer.HandlerFunc(func(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
		recs, err := csv.NewReader(bytes.NewReader(bt.Table.CSV)).ReadAll()
		if err != nil || len(recs) != bt.Table.Rows+1 || recs[0][0] != "id" {
			return consumer.Result{}, fmt.Errorf("part of %d rows: %d records (%v)", bt.Table.Rows, len(recs), err)
		}
		var res consumer.Result
		for i, rec := range recs[1:] {
			if badIDs[rec[0]] {
				return consumer.Result{}, &consumer.ScriptError{Type: "KeyError", Message: "id " + rec[0]}
			}
			j, _ := json.Marshal(fmt.Sprintf("%s@%d", rec[0], bt.Table.FirstIndex+i))
			res.Rows = append(res.Rows, j)
		}
		return res, nil
	}), func(c *consumer.Config) { c.LogFlush = 50 * time.Millisecond })
	c := b.config(1)
	c.InputFormat, c.MiniBatchSize, c.RunMaxTry, c.IsolateFailures = "csv", "1MB", 1, true
	id, st, cs := b.run(c)
	if st.State != contracts.StateCompleted || cs.ItemsFailed != 3 || cs.ItemsSucceeded != 27 || cs.FailedBatches != 1 {
		t.Fatalf("state %+v counters %+v", st, cs)
	}
	var want []string
	place := 0 // the row's place among the well-formed rows
	for i := range 30 {
		if i == 9 {
			continue
		}
		if !badIDs[fmt.Sprint(i)] {
			want = append(want, fmt.Sprintf("%d@%d", i, place))
		}
		place++
	}
	sameRows(t, b.rows("parallel_run_step.txt"), want)
	o, _, _, err := b.ledger.Outcome(context.Background(), id, 0)
	if err != nil || o.Failed != 3 || !strings.Contains(o.Error, "3 of 30 items failed") {
		t.Fatalf("outcome %+v (%v)", o, err)
	}
	// The malformed row is named by the attempt's own record, which holds
	// a failure no part names.
	b.waitFor(contracts.LogErrorSummary, "1 x KeyError: id 4", "failed items: data.csv: row 5 (mini-batch 0)",
		"1 x KeyError: id 21", "failed items: data.csv: row 22 (mini-batch 0)", "1 x ItemError: 3 of 30 items failed; first: data.csv: row 10")
}
