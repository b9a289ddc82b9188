package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

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

// A first delivery is not written by its worker (Delivered): a resume
// notes those of the messages it purges, so that a try lost with its worker
// before the resume still counts after it. Messages never delivered, and
// other jobs' messages, are not noted.
func TestResumeNotesTheFirstDeliveriesItPurges(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addJob(t, l, "j", 5, t.TempDir())
	addJob(t, l, "other", 1, t.TempDir())
	publish := func(id string, index int64, gen int) {
		t.Helper()
		b, _ := json.Marshal(contracts.MiniBatch{JobID: id, Index: index, Generation: gen, Items: []contracts.Item{{Key: "f", Size: 1}}})
		if _, err := l.B.JS.Publish(ctx, contracts.BatchSubject(id), b); err != nil {
			t.Fatal(err)
		}
	}
	publish("other", 0, 0)
	for i := range int64(5) {
		publish("j", i, 0)
	}
	// Workers take four messages (other's 0, j's 0 to 2) and die with
	// them; j's batch 0 had come back once before (its second delivery is
	// noted, as a redelivery is).
	msgs, err := l.B.Consumer.Fetch(4, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range msgs.Messages() {
		n++
	}
	if n != 4 {
		t.Fatalf("fetched %d messages, want 4", n)
	}
	if _, err := l.Delivered(ctx, "j", 0, 0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resume(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{2, 1, 1, 0, 0} {
		d, err := l.Deliveries(ctx, "j", int64(i))
		if err != nil || d.Delivered[0] != want || d.Total() != want {
			t.Errorf("batch %d after the resume: %+v (%v), want %d deliveries of generation 0", i, d, err, want)
		}
	}
	if d, err := l.Deliveries(ctx, "other", 0); err != nil || d.Total() != 0 {
		t.Errorf("another job's batch was noted: %+v (%v)", d, err)
	}
	// Generation 1's first deliveries are noted by the next resume.
	publish("j", 3, 1)
	if msgs, err = l.B.Consumer.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for range msgs.Messages() {
	}
	if _, err := l.Resume(ctx, "j"); err != nil {
		t.Fatal(err)
	}
	if d, err := l.Deliveries(ctx, "j", 3); err != nil || d.Delivered[1] != 1 || d.Total() != 1 {
		t.Errorf("batch 3 after the second resume: %+v (%v), want 1 delivery of generation 1", d, err)
	}
}

// The purge of the only job in the queue moves the workers' consumer past
// every message it removes: the resume notes the deliveries it read before
// the purge, not every message it purged (those never taken keep all their
// tries).
func TestResumeOfTheOnlyQueuedJobNotesOnlyWhatWasDelivered(t *testing.T) {
	t.Parallel()
	l := newLedger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addJob(t, l, "solo", 4, t.TempDir())
	for i := range int64(4) {
		b, _ := json.Marshal(contracts.MiniBatch{JobID: "solo", Index: i, Items: []contracts.Item{{Key: "f", Size: 1}}})
		if _, err := l.B.JS.Publish(ctx, contracts.BatchSubject("solo"), b); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := l.B.Consumer.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for range msgs.Messages() {
	}
	if _, err := l.Resume(ctx, "solo"); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0, 0, 0} {
		if d, err := l.Deliveries(ctx, "solo", int64(i)); err != nil || d.Total() != want {
			t.Errorf("batch %d after the resume: %+v (%v), want %d deliveries", i, d, err, want)
		}
	}
}
