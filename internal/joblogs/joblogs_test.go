package joblogs_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/internal/objstore"
)

// A job with JSON Lines pieces has no item total until its pieces are
// read: the overview says so while it runs and gives the count at the end.
func TestOverviewOfUnknownItemTotal(t *testing.T) {
	t.Parallel()
	job := &contracts.Job{ID: "j", Config: contracts.DefaultConfig()}
	now := time.Now()
	st := contracts.JobState{State: contracts.StateRunning, Sealed: true, TotalBatches: 4, TotalItems: -1, Created: now.Add(-time.Minute)}
	running := joblogs.Overview(job, st, contracts.Counters{Done: 1, ItemsSucceeded: 10, ItemsFailed: 1}, now)
	if !strings.Contains(running, "Items: 10 succeeded, 1 failed so far (JSON Lines rows are counted as they are read: no total yet)") {
		t.Errorf("running overview:\n%s", running)
	}
	st.State, st.Finished = contracts.StateCompleted, now
	done := joblogs.Overview(job, st, contracts.Counters{Done: 4, ItemsSucceeded: 40, ItemsFailed: 2}, now)
	if !strings.Contains(done, "Items: 42 in all, 40 succeeded, 2 failed") {
		t.Errorf("final overview:\n%s", done)
	}
	st.TotalItems = 42
	if known := joblogs.Overview(job, st, contracts.Counters{Done: 1}, now); !strings.Contains(known, "Items: 42 in all, 0 succeeded, 0 failed") {
		t.Errorf("overview with a known total:\n%s", known)
	}
}

func TestRecordsAreTheJobsOwn(t *testing.T) {
	out, err := objstore.Open(t.Context(), t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	put := func(key string, recs ...contracts.AttemptRecord) {
		var b strings.Builder
		for _, r := range recs {
			line, _ := json.Marshal(r)
			b.Write(line)
			b.WriteByte('\n')
		}
		if err := out.Put(t.Context(), key, strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	// Two jobs' workers wrote records into one output (the second job's
	// took it while the first one's were still writing), and a worker older
	// than the job field wrote one too.
	put(contracts.LogWorkerRecords("h", "w1"),
		contracts.AttemptRecord{Job: "job-a", Index: 1, Attempt: 1},
		contracts.AttemptRecord{Job: "job-b", Index: 0, Attempt: 1})
	put(contracts.LogWorkerRecords("h", "w2"),
		contracts.AttemptRecord{Job: "job-a", Index: 0, Attempt: 2},
		contracts.AttemptRecord{Index: 2, Attempt: 1})
	recs, err := joblogs.Records(t.Context(), out, "job-a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s/%d/%d", r.Job, r.Index, r.Attempt))
	}
	if want := []string{"job-a/0/2", "job-a/1/1", "/2/1"}; !slices.Equal(got, want) {
		t.Fatalf("records %q, want %q", got, want)
	}
}

// A line of a worker's records longer than any record (written into the
// output by someone else, or cut short by a crash and run into the next)
// is skipped: the records around it are read, and the report is written.
func TestRecordsSkipAnOverlongLine(t *testing.T) {
	t.Parallel()
	out, err := objstore.Open(t.Context(), t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	line := func(r contracts.AttemptRecord) string { b, _ := json.Marshal(r); return string(b) + "\n" }
	body := line(contracts.AttemptRecord{Job: "j", Index: 0, Attempt: 1}) +
		`{"job":"j","index":9,"error":"` + strings.Repeat("x", 17<<20) + "\"}\n" +
		line(contracts.AttemptRecord{Job: "j", Index: 1, Attempt: 1}) +
		line(contracts.AttemptRecord{Job: "j", Index: 2, Attempt: 1})[:20] // a last line without its end
	if err := out.Put(t.Context(), contracts.LogWorkerRecords("h", "w"), strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	recs, err := joblogs.Records(t.Context(), out, "j")
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range recs {
		got = append(got, r.Index)
	}
	if !slices.Equal(got, []int64{0, 1}) {
		t.Fatalf("records of batches %v, want 0 and 1", got)
	}
}
