package ledger

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// openJob records an open job writing to out.
func openJob(t *testing.T, l *Ledger, id string, out string, cfg func(*contracts.Config)) *contracts.Job {
	t.Helper()
	c := contracts.DefaultConfig()
	c.Output = out
	if cfg != nil {
		cfg(&c)
	}
	job := &contracts.Job{ID: id, Config: c, Staging: filepath.Join(out, ".prs", id)}
	if err := l.OpenJob(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	return job
}

// finish records and counts batch i of job with one row, ok or failed.
func finish(t *testing.T, l *Ledger, job *contracts.Job, i int64, ok bool) int64 {
	t.Helper()
	ctx := context.Background()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		t.Fatal(err)
	}
	o := contracts.BatchOutcome{Index: i, Items: 1, Succeeded: 1, OK: true}
	if !ok {
		o = contracts.BatchOutcome{Index: i, Items: 1, Failed: 1}
	} else {
		o.ResultKey = contracts.ResultKey(i, 1, "w")
		if err := staging.Put(ctx, o.ResultKey, stringsReader("row"+string(rune('0'+i))+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	o, rev, err := l.Record(ctx, job.ID, o)
	if err != nil {
		t.Fatal(err)
	}
	done, err := l.Count(ctx, job, o, rev)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MaybeFinalize(ctx, job, done, nil); err != nil {
		t.Fatal(err)
	}
	return done
}

// An open job whose every published batch has ended is not finalised until
// it is sealed; sealing it finalises it with every batch's rows in order.
func TestOpenJobIsFinalisedOnlyOnceSealed(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	out := t.TempDir()
	job := openJob(t, l, "w-000001", out, nil)
	if err := l.GrowJob(ctx, job.ID, 2, 2); err != nil {
		t.Fatal(err)
	}
	finish(t, l, job, 1, true)
	finish(t, l, job, 0, true)
	st, _, _ := l.State(ctx, job.ID)
	if st.State != contracts.StateRunning || st.Sealed || st.TotalBatches != 2 {
		t.Fatalf("open job with every published batch done: %+v", st)
	}
	if _, err := os.Stat(filepath.Join(out, job.Config.AppendRowFileName)); err == nil {
		t.Fatal("an open job's final file was written")
	}
	// The window grows by one batch, which ends, then it is sealed.
	if err := l.GrowJob(ctx, job.ID, 3, 3); err != nil {
		t.Fatal(err)
	}
	if err := l.GrowJob(ctx, job.ID, 2, 2); err != nil { // a late call lowers nothing
		t.Fatal(err)
	}
	finish(t, l, job, 2, true)
	st, err := l.SealJob(ctx, job, 3, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != contracts.StateCompleted || !st.Sealed || st.TotalBatches != 3 {
		t.Fatalf("sealed job whose batches all ended: %+v", st)
	}
	b, err := os.ReadFile(filepath.Join(out, job.Config.AppendRowFileName))
	if err != nil || string(b) != "row0\nrow1\nrow2\n" {
		t.Fatalf("final file %q, %v", b, err)
	}
	// Sealing again with the same totals changes nothing; other totals
	// and growing are refused.
	if st, err := l.SealJob(ctx, job, 3, 3, nil); err != nil || st.State != contracts.StateCompleted {
		t.Fatalf("sealing again: %+v %v", st, err)
	}
}

// A sealed job whose last batch ends later is finalised by the worker
// that counts it, as any job.
func TestSealedOpenJobIsFinalisedByItsLastBatch(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	out := t.TempDir()
	job := openJob(t, l, "w-000002", out, nil)
	if err := l.GrowJob(ctx, job.ID, 2, 2); err != nil {
		t.Fatal(err)
	}
	finish(t, l, job, 0, true)
	st, err := l.SealJob(ctx, job, 2, 2, nil)
	if err != nil || st.State != contracts.StateRunning || !st.Sealed {
		t.Fatalf("sealed with a batch to go: %+v %v", st, err)
	}
	if _, err := l.SealJob(ctx, job, 3, 3, nil); !errors.Is(err, ErrSealed) {
		t.Fatalf("sealing at other totals: %v, want ErrSealed", err)
	}
	if err := l.GrowJob(ctx, job.ID, 3, 3); !errors.Is(err, ErrSealed) {
		t.Fatalf("growing a sealed job: %v, want ErrSealed", err)
	}
	finish(t, l, job, 1, true)
	st, _, _ = l.State(ctx, job.ID)
	if st.State != contracts.StateCompleted {
		t.Fatalf("after the last batch: %+v", st)
	}
}

// allowed_failed_percent is judged against the sealed total, never the
// total published so far: one failed batch of the first two is not 50%
// while the window is open; the total it is sealed at decides.
func TestOpenJobAllowedFailedPercentIsJudgedAgainstTheSealedTotal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total int64
		state string
	}{
		{10, contracts.StateCompleted}, // 1 of 10 = 10%, not above 10
		{4, contracts.StateFailed},     // 1 of 4 = 25%
	} {
		l := newLedger(t)
		ctx := context.Background()
		job := openJob(t, l, "w-000003", t.TempDir(), func(c *contracts.Config) { c.AllowedFailedPercent = 10 })
		if err := l.GrowJob(ctx, job.ID, 2, 2); err != nil {
			t.Fatal(err)
		}
		finish(t, l, job, 0, false)
		finish(t, l, job, 1, true)
		if st, _, _ := l.State(ctx, job.ID); st.State != contracts.StateRunning {
			t.Fatalf("open job with 1 of 2 batches failed: %+v", st)
		}
		for i := int64(2); i < tc.total-1; i++ {
			finish(t, l, job, i, true)
		}
		st, err := l.SealJob(ctx, job, tc.total, tc.total, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.state == contracts.StateCompleted {
			if st.State != contracts.StateRunning {
				t.Fatalf("total %d, a batch to go: %+v", tc.total, st)
			}
			finish(t, l, job, tc.total-1, true)
			st, _, _ = l.State(ctx, job.ID)
		}
		if st.State != tc.state {
			t.Fatalf("sealed at %d with 1 failed batch: %s (%s), want %s", tc.total, st.State, st.Reason, tc.state)
		}
	}
}

// error_threshold fails an open job at once; sealing it later leaves it failed.
func TestOpenJobFailsOnErrorThresholdWhileOpen(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	job := openJob(t, l, "w-000004", t.TempDir(), func(c *contracts.Config) { c.ErrorThreshold = 0 })
	if err := l.GrowJob(ctx, job.ID, 1, 1); err != nil {
		t.Fatal(err)
	}
	finish(t, l, job, 0, false)
	st, err := l.SealJob(ctx, job, 1, 1, nil)
	if err != nil || st.State != contracts.StateFailed {
		t.Fatalf("%+v %v", st, err)
	}
	if err := l.GrowJob(ctx, job.ID, 5, 5); err != nil {
		t.Fatalf("growing an ended job: %v", err)
	}
}
