package ledger

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestFinalReadsRowsFromOutcomesAndObjects records a job whose batches
// keep their rows three ways (in the outcome, in an object, none), out of
// order, and checks that finalisation and the rewrite of a deleted final
// file read each from where its outcome says, in batch order.
func TestFinalReadsRowsFromOutcomesAndObjects(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	l.FinalWindow = 2
	out := t.TempDir()
	const total = 7
	job := addJob(t, l, "j", total, out)
	job.Config.KeepStaging = true // RewriteFinal below reads the staged rows too
	ctx := context.Background()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for i := int64(0); i < total; i++ {
		if i%3 != 2 {
			want.WriteString("row" + string(rune('0'+i)) + "\n")
		}
	}
	for i := int64(total - 1); i >= 0; i-- {
		o := contracts.BatchOutcome{Index: i, Items: 1, Succeeded: 1, OK: true}
		row := "row" + string(rune('0'+i)) + "\n"
		switch i % 3 {
		case 0:
			o.Rows = []byte(row)
		case 1:
			o.ResultKey = contracts.ResultKey(i, 1, "w")
			if err := staging.Put(ctx, o.ResultKey, stringsReader(row)); err != nil {
				t.Fatal(err)
			}
		}
		held, rev, err := l.Record(ctx, "j", o)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Count(ctx, job, held, rev); err != nil {
			t.Fatal(err)
		}
		// Counting rewrites the record: its rows stay.
		if got, _, _, err := l.Outcome(ctx, "j", i); err != nil || !got.Counted || !bytes.Equal(got.Rows, o.Rows) {
			t.Fatalf("outcome %d after counting: %+v (%v), want counted with rows %q", i, got, err, o.Rows)
		}
	}
	// The reports read every outcome, without the rows they hold.
	all, err := l.Outcomes(ctx, "j")
	if err != nil || len(all) != total {
		t.Fatalf("Outcomes: %d (%v), want %d", len(all), err, total)
	}
	for _, o := range all {
		if o.Rows != nil || !o.Counted {
			t.Fatalf("Outcomes gave batch %d with %d bytes of rows (counted %v), want none, counted", o.Index, len(o.Rows), o.Counted)
		}
	}
	if err := l.MaybeFinalize(ctx, job, total, nil); err != nil {
		t.Fatal(err)
	}
	final := filepath.Join(out, "parallel_run_step.txt")
	if b, err := os.ReadFile(final); err != nil || string(b) != want.String() {
		t.Fatalf("final file %q (%v), want %q", b, err, want.String())
	}
	if err := os.Remove(final); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RewriteFinal(ctx, job); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(final); err != nil || string(b) != want.String() {
		t.Fatalf("rewritten final file %q (%v), want %q", b, err, want.String())
	}
}

// TestRecordRefusesAnOutcomeLargerThanTheBucketTakes: Fits tells it
// beforehand, and Record refuses it with ErrRecordTooLarge rather than have
// JetStream refuse it (a server whose max_payload is smaller than
// inline_rows_max allows, or a long error text).
func TestRecordRefusesAnOutcomeLargerThanTheBucketTakes(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	if l.B.MaxRecord != 8<<20 {
		t.Fatalf("MaxRecord %d, want the embedded server's max_payload 8 MiB", l.B.MaxRecord)
	}
	addJob(t, l, "j", 2, t.TempDir())
	ctx := context.Background()
	small := contracts.BatchOutcome{Index: 0, Items: 1, Succeeded: 1, OK: true, Rows: bytes.Repeat([]byte("x"), contracts.MaxInlineRows)}
	if !l.Fits(small) {
		t.Fatalf("an outcome with inline_rows_max's largest rows does not fit in %d bytes", l.B.MaxRecord)
	}
	if _, _, err := l.Record(ctx, "j", small); err != nil {
		t.Fatal(err)
	}
	l.B.MaxRecord = 1 << 20 // the default max_payload of a NATS server
	if !l.Fits(small) {
		t.Fatalf("an outcome with inline_rows_max's largest rows does not fit in NATS's default max_payload")
	}
	big := contracts.BatchOutcome{Index: 1, Items: 1, Succeeded: 1, OK: true, Rows: bytes.Repeat([]byte("x"), 800<<10)}
	if l.Fits(big) {
		t.Fatal("Fits says 800 KiB of rows (base64: 1.07 MB) fit in 1 MiB")
	}
	if _, _, err := l.Record(ctx, "j", big); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Record of a too large outcome: %v, want ErrRecordTooLarge", err)
	}
	if _, ok, _ := outcomeOf(t, l, 1); ok {
		t.Fatal("the refused outcome was recorded")
	}
}

func outcomeOf(t *testing.T, l *Ledger, i int64) (contracts.BatchOutcome, bool, error) {
	t.Helper()
	o, _, ok, err := l.Outcome(context.Background(), "j", i)
	return o, ok, err
}
