package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// runJob records and counts total batches of job, each with staged rows,
// a file its script wrote to output_dir (out/b<i>.txt, staged until the
// finalisation copies it to the output), a deliveries record with one
// delivery handed back and (batch 0) an isolation mark, and ships a source
// file and an earlier job's log beside them.
func runJob(t *testing.T, l *Ledger, job *contracts.Job, total int64, failed bool) {
	t.Helper()
	ctx := context.Background()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"source/score.py", "logs/user/error.txt"} {
		if err := staging.Put(ctx, k, stringsReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.BeginIsolation(ctx, job.ID, 0, 1); err != nil {
		t.Fatal(err)
	}
	for i := range total {
		key := contracts.ResultKey(i, 1, "w")
		if err := staging.Put(ctx, key, stringsReader("row\n")); err != nil {
			t.Fatal(err)
		}
		files := contracts.FilesKey(i, 1, "w", "t")
		if err := staging.Put(ctx, files+dirFile(i), stringsReader("file\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Delivered(ctx, job.ID, i, 0, 1); err != nil {
			t.Fatal(err)
		}
		if err := l.HandedBack(ctx, job.ID, i); err != nil {
			t.Fatal(err)
		}
		o := contracts.BatchOutcome{Index: i, Items: 1, Succeeded: 1, OK: true, ResultKey: key, FilesKey: files}
		if failed && i == 0 {
			o = contracts.BatchOutcome{Index: i, Items: 1, Failed: 1, Error: "boom"}
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
	}
}

// dirFile is the file batch i's script wrote to its output_dir.
func dirFile(i int64) string { return fmt.Sprintf("out/b%d.txt", i) }

// outputFilesKept fails unless the output holds the output_dir file of
// each of the job's batches 0 to n-1, which the user asked for.
func outputFilesKept(t *testing.T, job *contracts.Job, n int64) {
	t.Helper()
	for i := range n {
		if _, err := os.Stat(filepath.Join(job.Config.Output, dirFile(i))); err != nil {
			t.Fatalf("job %s: the output_dir file of batch %d is not in the output: %v", job.ID, i, err)
		}
	}
}

// stagedKeys lists the objects under a job's staging folder.
func stagedKeys(t *testing.T, l *Ledger, job *contracts.Job) []string {
	t.Helper()
	s, err := l.Stores.Open(context.Background(), job.Staging)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.List(context.Background(), "", func(o objstore.ObjectInfo) error {
		keys = append(keys, o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// msgs counts the messages of stream under subject.
func msgs(t *testing.T, s jetstream.Stream, subject string) uint64 {
	t.Helper()
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

func TestEndedJobsLoseTheirStagingAtOnceAndTheirRecordsAfterRetention(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	out := t.TempDir()
	done := addJob(t, l, "done", 3, filepath.Join(out, "a"))
	kept := &contracts.Job{ID: "kept", Config: contracts.DefaultConfig(), Staging: filepath.Join(out, "b", ".prs", "kept")}
	kept.Config.Output, kept.Config.KeepStaging = filepath.Join(out, "b"), true
	if err := l.CreateJob(ctx, kept, 2, 2); err != nil {
		t.Fatal(err)
	}
	failed := addJob(t, l, "failed", 2, filepath.Join(out, "c"))
	failed.Config.ErrorThreshold = 0
	running := addJob(t, l, "running", 5, filepath.Join(out, "d"))
	runJob(t, l, done, 3, false)
	runJob(t, l, kept, 2, false)
	runJob(t, l, failed, 2, true)
	runJob(t, l, running, 2, false) // 2 of 5: still running
	for _, c := range []struct {
		job   *contracts.Job
		state string
	}{{done, contracts.StateCompleted}, {kept, contracts.StateCompleted}, {failed, contracts.StateFailed}, {running, contracts.StateRunning}} {
		if st, _, _ := l.State(ctx, c.job.ID); st.State != c.state {
			t.Fatalf("job %s is %s, want %s", c.job.ID, st.State, c.state)
		}
	}

	// At the end: the staged rows, output_dir files and source are gone
	// (the files copied to the output stay), an earlier job's logs moved
	// there stay; keep_staging and a running job keep all.
	if keys := stagedKeys(t, l, done); !slices.Equal(keys, []string{"logs/user/error.txt"}) {
		t.Fatalf("job done ended and left %q under its staging", keys)
	}
	// failed ended on its batch 0; batch 1 staged its rows after the end
	// (a late attempt), which the sweep removes.
	late := []string{contracts.FilesKey(1, 1, "w", "t") + dirFile(1), "logs/user/error.txt", contracts.ResultKey(1, 1, "w")}
	if keys := stagedKeys(t, l, failed); !slices.Equal(keys, late) {
		t.Fatalf("job failed ended and left %q under its staging, want %q", keys, late)
	}
	outputFilesKept(t, done, 3)
	outputFilesKept(t, kept, 2)
	if keys := stagedKeys(t, l, kept); len(keys) != 6 {
		t.Fatalf("keep_staging: %q under the staging, want the 2 rows, the 2 files, the source and the log", keys)
	}
	if keys := stagedKeys(t, l, running); len(keys) != 6 {
		t.Fatalf("a running job: %q under the staging", keys)
	}
	for _, dir := range []string{"results", "files"} {
		if _, err := os.Stat(filepath.Join(done.Staging, dir)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the emptied %s folder stays: %v", dir, err)
		}
	}
	// Its final file cannot be written again without the rows; kept can.
	if _, err := l.RewriteFinal(ctx, done); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("RewriteFinal without the staged rows: %v, want ErrNotFound", err)
	}
	if _, err := l.RewriteFinal(ctx, kept); err != nil {
		t.Fatalf("RewriteFinal with keep_staging: %v", err)
	}

	// Inside the retention nothing more goes.
	stats, err := l.Sweep(ctx, DefaultRetention)
	if err != nil || stats != (SweepStats{Waiting: 3}) {
		t.Fatalf("sweep inside the retention: %+v, %v; want 3 ended jobs waiting", stats, err)
	}
	if _, _, ok, _ := l.Outcome(ctx, "done", 0); !ok {
		t.Fatal("an outcome went inside the retention")
	}

	// A late attempt stages rows after the end; the sweep removes them too.
	staging, _ := l.Stores.Open(ctx, done.Staging)
	if err := staging.Put(ctx, contracts.ResultKey(1, 2, "late"), stringsReader("late\n")); err != nil {
		t.Fatal(err)
	}
	before := map[string]contracts.Counters{}
	for _, id := range []string{"done", "kept", "failed"} {
		before[id], _ = l.B.ReadCounters(ctx, id)
	}
	stats, err = l.Sweep(ctx, 1) // every ended job is past a retention of 1ns
	if err != nil || stats != (SweepStats{Expired: 3}) {
		t.Fatalf("sweep past the retention: %+v, %v; want 3 expired", stats, err)
	}
	kv, err := l.B.JS.Stream(ctx, "KV_"+contracts.JobBucket)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"done", "kept", "failed"} {
		if n := msgs(t, kv, "$KV.PRS_JOBS.job."+id+".>"); n != 2 {
			t.Errorf("job %s keeps %d records in the bucket, want 2 (its record and state)", id, n)
		}
		if n := msgs(t, l.B.Counters, contracts.CounterSubject(id, ">")); n != 0 {
			t.Errorf("job %s keeps %d counters", id, n)
		}
		st, _, err := l.State(ctx, id)
		if err != nil || st.Expired.IsZero() || st.Counts == nil || *st.Counts != before[id] {
			t.Fatalf("job %s after the sweep: %+v, %v; want its counters %+v kept", id, st, err, before[id])
		}
		if c, err := l.Counters(ctx, id, st); err != nil || c != before[id] || c.Done == 0 {
			t.Fatalf("job %s: Counters %+v, %v; want %+v", id, c, err, before[id])
		}
		if _, err := l.Job(ctx, id); err != nil {
			t.Fatalf("job %s lost its record: %v", id, err)
		}
	}
	for _, job := range []*contracts.Job{done, failed} {
		if keys := stagedKeys(t, l, job); !slices.Equal(keys, []string{"logs/user/error.txt"}) {
			t.Fatalf("job %s: after the sweep %q stay under the staging", job.ID, keys)
		}
	}
	if keys := stagedKeys(t, l, kept); len(keys) != 6 {
		t.Fatalf("keep_staging after the sweep: %q", keys)
	}
	outputFilesKept(t, done, 3)
	outputFilesKept(t, kept, 2)
	if _, err := l.RewriteFinal(ctx, kept); !errors.Is(err, ErrExpired) {
		t.Fatalf("RewriteFinal of an expired job: %v, want ErrExpired", err)
	}
	// The running job keeps everything (its record and state, 2 outcomes,
	// 2 deliveries records, 1 isolation mark); the next sweep has nothing
	// to do.
	if n := msgs(t, kv, "$KV.PRS_JOBS.job.running.>"); n != 2+2+2+1 {
		t.Fatalf("the running job has %d records, want 7", n)
	}
	if d, err := l.Deliveries(ctx, "running", 1); err != nil || d.HandedBack != 1 {
		t.Fatalf("the running job's deliveries of batch 1: %+v, %v", d, err)
	}
	if c, _ := l.B.ReadCounters(ctx, "running"); c.Done != 2 {
		t.Fatalf("the running job's counters: %+v", c)
	}
	if stats, err = l.Sweep(ctx, 1); err != nil || stats != (SweepStats{}) {
		t.Fatalf("a second sweep: %+v, %v", stats, err)
	}
}

func TestSweepKeepsAJobMarkedEndedThatDidNotEnd(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	job := addJob(t, l, "j", 3, t.TempDir())
	runJob(t, l, job, 1, false)
	// The mark is written before the state change that ends a job; a
	// process that died between the two leaves a mark on a running job.
	l.markEnded(ctx, "j")
	stats, err := l.Sweep(ctx, 1)
	if err != nil || stats != (SweepStats{Waiting: 1}) {
		t.Fatalf("sweep: %+v, %v; want the job waiting", stats, err)
	}
	if _, _, ok, _ := l.Outcome(ctx, "j", 0); !ok {
		t.Fatal("the running job's outcome was removed")
	}
	// Once it ends (cancelled), the next sweep past the retention takes it.
	if _, err := l.Stop(ctx, "j", contracts.StateCancelled, "cancelled by the user"); err != nil {
		t.Fatal(err)
	}
	if stats, err = l.Sweep(ctx, 1); err != nil || stats != (SweepStats{Expired: 1}) {
		t.Fatalf("sweep after the cancel: %+v, %v", stats, err)
	}
	if _, _, ok, _ := l.Outcome(ctx, "j", 0); ok {
		t.Fatal("the cancelled job's outcome stays")
	}
}

func TestJobsThatEndedUnmarkedAreMarkedAndSwept(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	old := addJob(t, l, "old", 1, t.TempDir())
	runJob(t, l, old, 1, false)
	// As an older prs left it: no ended mark.
	if err := l.B.Jobs.Purge(ctx, contracts.EndedKey("old")); err != nil {
		t.Fatal(err)
	}
	reused := &contracts.Job{ID: "reused", Config: old.Config}
	if _, err := l.RecordReused(ctx, reused, "old", contracts.JobState{TotalBatches: 1}, ""); err != nil {
		t.Fatal(err)
	}
	running := addJob(t, l, "running", 2, t.TempDir())
	runJob(t, l, running, 1, false)
	if stats, err := l.Sweep(ctx, 1); err != nil || stats != (SweepStats{}) {
		t.Fatalf("sweep before the marking: %+v, %v", stats, err)
	}
	n, err := l.MarkEndedJobs(ctx)
	if err != nil || n != 1 {
		t.Fatalf("MarkEndedJobs: %d, %v; want the old job alone", n, err)
	}
	if n, err := l.MarkEndedJobs(ctx); err != nil || n != 0 {
		t.Fatalf("MarkEndedJobs again: %d, %v", n, err)
	}
	// The mark holds the job's end: inside a long retention it waits.
	if stats, err := l.Sweep(ctx, DefaultRetention); err != nil || stats != (SweepStats{Waiting: 1}) {
		t.Fatalf("sweep inside the retention: %+v, %v", stats, err)
	}
	if stats, err := l.Sweep(ctx, 1); err != nil || stats != (SweepStats{Expired: 1}) {
		t.Fatalf("sweep past the retention: %+v, %v", stats, err)
	}
	if _, _, ok, _ := l.Outcome(ctx, "old", 0); ok {
		t.Fatal("the old job's outcome stays")
	}
	if _, _, ok, _ := l.Outcome(ctx, "running", 0); !ok {
		t.Fatal("the running job's outcome went")
	}
	// An expired job is not marked again.
	if n, err := l.MarkEndedJobs(ctx); err != nil || n != 0 {
		t.Fatalf("MarkEndedJobs after the sweep: %d, %v", n, err)
	}
}

// TestSweepThatCannotPurgeLeavesTheJobAsItWas: a sweep refused its purge (a
// worker without the permission; here the stream denies purges) does not
// mark the job expired: its final file can still be written again from its
// records. (JetStream cannot allow purges again on that stream: the sweep
// that can purge is TestEndedJobsLoseTheirStagingAtOnceAndTheirRecordsAfterRetention.)
func TestSweepThatCannotPurgeLeavesTheJobAsItWas(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	out := t.TempDir()
	job := &contracts.Job{ID: "kept", Config: contracts.DefaultConfig(), Staging: filepath.Join(out, ".prs", "kept")}
	job.Config.Output, job.Config.KeepStaging = out, true
	if err := l.CreateJob(ctx, job, 2, 2); err != nil {
		t.Fatal(err)
	}
	runJob(t, l, job, 2, false)
	kv, err := l.B.JS.Stream(ctx, "KV_"+contracts.JobBucket)
	if err != nil {
		t.Fatal(err)
	}
	cfg := kv.CachedInfo().Config
	cfg.DenyPurge, cfg.AllowRollup = true, false // JetStream refuses roll-ups without purges
	if _, err := l.B.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Sweep(ctx, 1); err == nil {
		t.Fatal("a sweep whose purge is refused reported no error")
	}
	if st, _, err := l.State(ctx, job.ID); err != nil || !st.Expired.IsZero() {
		t.Fatalf("after a refused purge the job's state is %+v (%v), want it not expired", st, err)
	}
	if _, err := l.RewriteFinal(ctx, job); err != nil {
		t.Fatalf("RewriteFinal after a refused purge: %v", err)
	}
}
