package joblogs_test

import (
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
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
