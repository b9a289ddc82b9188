package ledger

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/broker/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newLedger(t testing.TB) *Ledger {
	t.Helper()
	_, h := brokertest.Start(t, broker.SetupConfig{})
	l := New(h, &Stores{}, "w1", nil)
	l.Lease = time.Second
	return l
}

// addJob records a sealed running job of total batches, writing to out.
func addJob(t testing.TB, l *Ledger, id string, total int64, out string) *contracts.Job {
	t.Helper()
	c := contracts.DefaultConfig()
	c.Output = out
	job := &contracts.Job{ID: id, Config: c, Staging: filepath.Join(out, ".prs", id)}
	if err := l.CreateJob(context.Background(), job, total, total); err != nil {
		t.Fatal(err)
	}
	return job
}

func TestOutcomeRecordedAndCountedOnceUnderRaces(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	job := addJob(t, l, "j", 10, t.TempDir())
	ctx := context.Background()
	var wg sync.WaitGroup
	// Eight racers per batch, each with its own idea of the outcome: only
	// the first recorded counts, however often it is counted.
	for i := int64(0); i < 5; i++ {
		for r := 0; r < 8; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := contracts.BatchOutcome{Index: i, Attempt: r + 1, Items: 4, Succeeded: 3, Failed: 1, Worker: "racer"}
				held, rev, err := l.Record(ctx, job.ID, o)
				if err != nil {
					t.Error(err)
					return
				}
				for k := 0; k < 2; k++ {
					if _, err := l.Count(ctx, job, held, rev); err != nil {
						t.Error(err)
					}
				}
			}()
		}
	}
	wg.Wait()
	c, err := l.B.ReadCounters(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.Counters{Done: 5, FailedBatches: 5, ItemsSucceeded: 15, ItemsFailed: 5}
	if c != want {
		t.Fatalf("counters %+v, want %+v", c, want)
	}
	o, _, ok, err := l.Outcome(ctx, job.ID, 3)
	if err != nil || !ok || !o.Counted {
		t.Fatalf("outcome %+v ok=%v err=%v: want counted", o, ok, err)
	}
}

func TestThresholdExceededFailsTheJobAndPurgesItsMessages(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	job := addJob(t, l, "j", 3, t.TempDir())
	job.Config.ErrorThreshold = 2
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := l.B.JS.Publish(ctx, contracts.BatchSubject("j"), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	o := contracts.BatchOutcome{Index: 0, Items: 2, Failed: 2}
	o, rev, _ := l.Record(ctx, "j", o)
	if _, err := l.Count(ctx, job, o, rev); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := l.State(ctx, "j"); st.State != contracts.StateRunning {
		t.Fatalf("2 failures at threshold 2: state %s", st.State)
	}
	o = contracts.BatchOutcome{Index: 1, Items: 1, Failed: 1}
	o, rev, _ = l.Record(ctx, "j", o)
	if _, err := l.Count(ctx, job, o, rev); err != nil {
		t.Fatal(err)
	}
	st, _, _ := l.State(ctx, "j")
	if st.State != contracts.StateFailed || st.Reason == "" {
		t.Fatalf("3 failures at threshold 2: state %+v", st)
	}
	info, err := l.B.Batches.Info(ctx, jetstream.WithSubjectFilter(contracts.BatchSubject("j")))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("%d messages left after the abort", info.State.Msgs)
	}
}

func TestFinalizeWritesRowsInOrderOnceAndTakesOverAStaleClaim(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	out := t.TempDir()
	job := addJob(t, l, "j", 3, out)
	ctx := context.Background()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(2); i >= 0; i-- { // finished out of order
		key := contracts.ResultKey(i, 1, "w")
		if err := staging.Put(ctx, key, stringsReader("row"+string(rune('0'+i))+"\n")); err != nil {
			t.Fatal(err)
		}
		o, rev, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: i, Items: 1, Succeeded: 1, OK: true, ResultKey: key})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Count(ctx, job, o, rev); err != nil {
			t.Fatal(err)
		}
	}
	// A claim left by a dead finaliser.
	stale, _ := json.Marshal(claim{Worker: "dead", Renewed: time.Now().Add(-time.Hour)})
	if _, err := l.B.Jobs.Create(ctx, contracts.FinalizeKey("j"), stale); err != nil {
		t.Fatal(err)
	}
	for k := 0; k < 2; k++ {
		if err := l.MaybeFinalize(ctx, job, 3, nil); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "row0\nrow1\nrow2\n" {
		t.Fatalf("final file %q", b)
	}
	st, _, _ := l.State(ctx, "j")
	if st.State != contracts.StateCompleted || st.FinalObject == "" {
		t.Fatalf("state %+v", st)
	}
}

func TestCountedOutcomeIsNotCountedAgainAndThresholdsAreRechecked(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	job := addJob(t, l, "j", 5, t.TempDir())
	// An outcome already marked counted (its increments went out long ago,
	// beyond the dedup window) adds nothing.
	o, rev, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: 0, Items: 2, Succeeded: 2, OK: true, Counted: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Count(ctx, job, o, rev); err != nil {
		t.Fatal(err)
	}
	if c, _ := l.B.ReadCounters(ctx, "j"); c.Done != 0 || c.ItemsSucceeded != 0 {
		t.Fatalf("a counted outcome was counted again: %+v", c)
	}
	// A failed batch counted by a process that died before it could stop the
	// job: the next Count of the same outcome (all increments duplicates)
	// still fails the job.
	o, rev, _ = l.Record(ctx, "j", contracts.BatchOutcome{Index: 1, Items: 2, Failed: 2})
	if _, err := l.increment(ctx, job, o, rev); err != nil {
		t.Fatal(err)
	}
	job.Config.ErrorThreshold = 1
	o, rev, _, _ = l.Outcome(ctx, "j", 1)
	if _, err := l.Count(ctx, job, o, rev); err != nil {
		t.Fatal(err)
	}
	if st, _, _ := l.State(ctx, "j"); st.State != contracts.StateFailed {
		t.Fatalf("state %s after 2 failed items at error_threshold 1", st.State)
	}
}

// TestCountReportsTheDoneCount: the done count Count reports is its own
// increment's result, and the counter's value when its increments were
// duplicates (a redelivery after a crash between counting and marking) or
// the outcome was marked counted; every counter of a batch counts once.
func TestCountReportsTheDoneCount(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	job := addJob(t, l, "j", 3, t.TempDir())
	ctx := context.Background()
	var first contracts.BatchOutcome
	var firstRev uint64
	for i, want := range []int64{1, 2} {
		o, rev, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: int64(i), Items: 3, Succeeded: 2, Failed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first, firstRev = o, rev
		}
		if done, err := l.Count(ctx, job, o, rev); err != nil || done != want {
			t.Fatalf("Count of batch %d: done %d (%v), want %d", i, done, err, want)
		}
	}
	// The uncounted copy of batch 0 that a crashed worker's redelivery holds.
	if done, err := l.Count(ctx, job, first, firstRev); err != nil || done != 2 {
		t.Fatalf("Count of a duplicate: done %d (%v), want 2", done, err)
	}
	counted, _, _, _ := l.Outcome(ctx, "j", 0)
	if done, err := l.Count(ctx, job, counted, 0); err != nil || done != 2 {
		t.Fatalf("Count of a counted outcome: done %d (%v), want 2", done, err)
	}
	want := contracts.Counters{Done: 2, FailedBatches: 2, ItemsSucceeded: 4, ItemsFailed: 2}
	if c, err := l.B.ReadCounters(ctx, "j"); err != nil || c != want {
		t.Fatalf("counters %+v (%v), want %+v", c, err, want)
	}
}

// A job that an earlier version began counting (one counter per count)
// ends when this version counts its last outcome: the done count it
// reports adds the earlier version's counter, and so do the counters.
func TestCountAddsTheCountersOfAnEarlierVersion(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	job := addJob(t, l, "j", 3, t.TempDir())
	// Batch 0, counted by an earlier version.
	if _, _, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: 0, Items: 1, Succeeded: 1, OK: true, Counted: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{contracts.CounterDone, contracts.CounterItemsSucceeded} {
		if _, err := l.B.Incr(ctx, "j", c, 1, "0"); err != nil {
			t.Fatal(err)
		}
	}
	var done int64
	for i := int64(1); i < 3; i++ {
		held, rev, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: i, Items: 1, Succeeded: 1, OK: true})
		if err != nil {
			t.Fatal(err)
		}
		if done, err = l.Count(ctx, job, held, rev); err != nil {
			t.Fatal(err)
		}
	}
	if done != 3 {
		t.Fatalf("done after the last batch = %d, want 3 (1 counted before, 2 now)", done)
	}
	if cs, err := l.B.ReadCounters(ctx, "j"); err != nil || cs.Done != 3 || cs.ItemsSucceeded != 3 {
		t.Fatalf("counters %+v, %v", cs, err)
	}
	// A job that no earlier version counted reports its own count.
	job2 := addJob(t, l, "k", 2, t.TempDir())
	held, rev, err := l.Record(ctx, "k", contracts.BatchOutcome{Index: 0, Items: 2, Succeeded: 2, OK: true})
	if err != nil {
		t.Fatal(err)
	}
	if done, err = l.Count(ctx, job2, held, rev); err != nil || done != 1 {
		t.Fatalf("done = %d, %v; want 1", done, err)
	}
}

// outcomeSizeBound, which spares Fits a marshal, is never below an
// outcome's JSON length, whatever its strings hold.
func TestOutcomeSizeBoundIsAnUpperBound(t *testing.T) {
	t.Parallel()
	worst := "<>&\x00\x01\xff\xfe\u2028\"\\"
	for i, o := range []contracts.BatchOutcome{
		{},
		{Index: 1 << 62, Attempt: 1 << 40, OK: true, Items: 1, Finished: time.Now()},
		{Error: strings.Repeat(worst, 1000), ErrorType: worst, FirstItem: worst, Worker: worst, Host: worst,
			Result: worst, ResultKey: worst, FilesKey: worst, Rows: []byte(strings.Repeat("r", 65536)),
			Seconds: 1.0000000000000002e-300, Start: time.Now(), Finished: time.Now(), PID: -1, ExtraCalls: -1, Counted: true},
		{Rows: []byte{1, 2, 3}, Seconds: 123456789.123456789, Start: time.Date(2026, 1, 1, 0, 0, 0, 1, time.FixedZone("x", -12345))},
	} {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if bound := outcomeSizeBound(o); bound < len(b) {
			t.Errorf("outcome %d: bound %d below its JSON length %d", i, bound, len(b))
		}
	}
}
