package ledger

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

func TestCreateJobRecordsASealedRunningJobOnce(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	job := addJob(t, l, "j", 7, t.TempDir())
	st, _, err := l.State(ctx, "j")
	if err != nil || st.State != contracts.StateRunning || !st.Sealed || st.TotalBatches != 7 || st.TotalItems != 7 ||
		st.Output != job.Config.Output || st.Created.IsZero() {
		t.Fatalf("state %+v err %v", st, err)
	}
	if got, err := l.Job(ctx, "j"); err != nil || got.Staging != job.Staging {
		t.Fatalf("job %+v err %v", got, err)
	}
	if err := l.CreateJob(ctx, job, 1, 1); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("second CreateJob = %v, want ErrKeyExists", err)
	}
	if st2, _, _ := l.State(ctx, "j"); st2.TotalBatches != 7 {
		t.Fatalf("a second CreateJob changed the state: %+v", st2)
	}
}

func TestResumeBumpsTheGenerationPurgesTheQueueAndRefusesAnEndedJob(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	addJob(t, l, "j", 3, t.TempDir())
	addJob(t, l, "other", 1, t.TempDir())
	for _, id := range []string{"j", "j", "other"} {
		if _, err := l.B.JS.Publish(ctx, contracts.BatchSubject(id), []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	for want := 1; want <= 2; want++ {
		g, err := l.Resume(ctx, "j")
		if err != nil || g != want {
			t.Fatalf("Resume = %d, %v; want generation %d", g, err, want)
		}
	}
	for id, want := range map[string]uint64{"j": 0, "other": 1} {
		info, err := l.B.Batches.Info(ctx, jetstream.WithSubjectFilter(contracts.BatchSubject(id)))
		if err != nil {
			t.Fatal(err)
		}
		if got := info.State.Subjects[contracts.BatchSubject(id)]; got != want {
			t.Fatalf("job %s has %d queued messages after resuming j, want %d", id, got, want)
		}
	}
	if _, err := l.Stop(ctx, "j", contracts.StateCancelled, "cancelled by the user"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resume(ctx, "j"); !errors.Is(err, ErrJobEnded) {
		t.Fatalf("Resume of a cancelled job = %v, want ErrJobEnded", err)
	}
}

func TestRecordReusedAndReusable(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx := context.Background()
	out := t.TempDir()
	prior := addJob(t, l, "prior", 1, out)
	prior.Fingerprint = "fp1"
	if id, err := l.Reusable(ctx, "fp1"); err != nil || id != "" {
		t.Fatalf("Reusable before the job completed = %q, %v", id, err)
	}
	o, rev, err := l.Record(ctx, "prior", contracts.BatchOutcome{Index: 0, Items: 1, Succeeded: 1, OK: true})
	if err != nil {
		t.Fatal(err)
	}
	done, err := l.Count(ctx, prior, o, rev)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.MaybeFinalize(ctx, prior, done, nil); err != nil {
		t.Fatal(err)
	}
	if id, err := l.Reusable(ctx, "fp1"); err != nil || id != "prior" {
		t.Fatalf("Reusable after the job completed = %q, %v", id, err)
	}
	pst, _, _ := l.State(ctx, "prior")
	job := &contracts.Job{ID: "again", Config: prior.Config, Fingerprint: "fp1"}
	st, err := l.RecordReused(ctx, job, "prior", pst, pst.FinalObject)
	if err != nil {
		t.Fatal(err)
	}
	held, _, _ := l.State(ctx, "again")
	if held.State != contracts.StateCompleted || held.ReusedFrom != "prior" || !strings.Contains(held.Reason, "prior") ||
		held.FinalObject != pst.FinalObject || held.TotalBatches != 1 || held.Finished.IsZero() || held.State != st.State {
		t.Fatalf("reused state %+v (returned %+v)", held, st)
	}
	if _, err := l.RecordReused(ctx, job, "prior", pst, ""); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Fatalf("recording the reuse twice = %v, want ErrKeyExists", err)
	}
}
