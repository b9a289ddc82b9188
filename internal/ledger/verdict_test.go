package ledger

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func TestJudge(t *testing.T) {
	t.Parallel()
	cfg := func(errorThreshold, failedCount int, failedPercent float64) contracts.Config {
		c := contracts.DefaultConfig()
		c.ErrorThreshold, c.AllowedFailedCount, c.AllowedFailedPercent = errorThreshold, failedCount, failedPercent
		return c
	}
	sealed := func(total int64) contracts.JobState {
		return contracts.JobState{State: contracts.StateRunning, Sealed: true, TotalBatches: total}
	}
	tolerant := contracts.DefaultConfig()
	for _, tc := range []struct {
		name   string
		cfg    contracts.Config
		c      contracts.Counters
		st     contracts.JobState
		state  string
		reason string // a part of the reason
	}{
		{"defaults tolerate failures while the job runs", tolerant,
			contracts.Counters{Done: 3, FailedBatches: 3, ItemsFailed: 30}, sealed(10), "", ""},
		{"defaults: every batch done completes", tolerant,
			contracts.Counters{Done: 10, ItemsSucceeded: 100}, sealed(10), contracts.StateCompleted, ""},
		{"a job the producer has not sealed does not complete", tolerant,
			contracts.Counters{Done: 10, ItemsSucceeded: 100}, contracts.JobState{TotalBatches: 10}, "", ""},
		{"error_threshold reached is tolerated", cfg(10, -1, 100),
			contracts.Counters{Done: 2, FailedBatches: 2, ItemsFailed: 10}, sealed(10), "", ""},
		{"error_threshold exceeded fails", cfg(10, -1, 100),
			contracts.Counters{Done: 2, FailedBatches: 2, ItemsFailed: 11}, sealed(10), contracts.StateFailed, "11 failed items exceed error_threshold 10"},
		{"error_threshold 0: one failed item fails", cfg(0, -1, 100),
			contracts.Counters{Done: 1, FailedBatches: 1, ItemsFailed: 1}, sealed(10), contracts.StateFailed, "error_threshold 0"},
		{"allowed_failed_count reached is tolerated", cfg(-1, 2, 100),
			contracts.Counters{Done: 5, FailedBatches: 2, ItemsFailed: 20}, sealed(10), "", ""},
		{"allowed_failed_count exceeded fails", cfg(-1, 2, 100),
			contracts.Counters{Done: 5, FailedBatches: 3, ItemsFailed: 3}, sealed(10), contracts.StateFailed, "3 failed mini-batches exceed allowed_failed_count 2"},
		{"error_threshold is judged first", cfg(0, 0, 0),
			contracts.Counters{Done: 1, FailedBatches: 1, ItemsFailed: 1}, sealed(10), contracts.StateFailed, "error_threshold"},
		{"allowed_failed_percent reached is tolerated", cfg(-1, -1, 30),
			contracts.Counters{Done: 4, FailedBatches: 3, ItemsFailed: 3}, sealed(10), "", ""},
		{"allowed_failed_percent exceeded fails before the end", cfg(-1, -1, 20),
			contracts.Counters{Done: 4, FailedBatches: 3, ItemsFailed: 3}, sealed(10), contracts.StateFailed, "3 of 10 mini-batches failed (30.0%), above allowed_failed_percent 20"},
		{"allowed_failed_percent is judged against the total, not the batches done", cfg(-1, -1, 50),
			contracts.Counters{Done: 1, FailedBatches: 1, ItemsFailed: 1}, sealed(10), "", ""},
		{"allowed_failed_percent waits for the total", cfg(-1, -1, 50),
			contracts.Counters{Done: 1, FailedBatches: 1, ItemsFailed: 1}, contracts.JobState{TotalBatches: 10}, "", ""},
		{"allowed_failed_percent 0: one failed batch fails", cfg(-1, -1, 0),
			contracts.Counters{Done: 1, FailedBatches: 1, ItemsFailed: 1}, sealed(1000), contracts.StateFailed, "allowed_failed_percent 0"},
		{"allowed_failed_percent 100 tolerates every batch", cfg(-1, -1, 100),
			contracts.Counters{Done: 9, FailedBatches: 9, ItemsFailed: 90}, sealed(10), "", ""},
		{"allowed_failed_percent exceeded at the end fails rather than completes", cfg(-1, -1, 10),
			contracts.Counters{Done: 10, FailedBatches: 2, ItemsFailed: 2, ItemsSucceeded: 8}, sealed(10), contracts.StateFailed, "allowed_failed_percent 10"},
		{"every item failed fails under tolerant thresholds", tolerant,
			contracts.Counters{Done: 4, FailedBatches: 4, ItemsFailed: 20}, sealed(4), contracts.StateFailed, "every item failed (20 of 20 items)"},
		{"every item failed, every batch partial", tolerant,
			contracts.Counters{Done: 2, FailedBatches: 1, ItemsFailed: 7}, sealed(2), contracts.StateFailed, ReasonEveryItemFailed},
		{"every item failed is judged at the end only", tolerant,
			contracts.Counters{Done: 3, FailedBatches: 3, ItemsFailed: 15}, sealed(4), "", ""},
		{"a threshold's reason comes before every item failed", cfg(5, -1, 100),
			contracts.Counters{Done: 4, FailedBatches: 4, ItemsFailed: 20}, sealed(4), contracts.StateFailed, "error_threshold 5"},
		{"some failures under tolerant thresholds complete and say so", tolerant,
			contracts.Counters{Done: 10, FailedBatches: 3, ItemsFailed: 30, ItemsSucceeded: 70}, sealed(10), contracts.StateCompleted, "completed with 30 of 100 items failed"},
		{"one success is enough to complete", tolerant,
			contracts.Counters{Done: 10, FailedBatches: 10, ItemsFailed: 99, ItemsSucceeded: 1}, sealed(10), contracts.StateCompleted, "completed with 99 of 100 items failed"},
		{"a job without items completes", tolerant,
			contracts.Counters{Done: 1}, sealed(1), contracts.StateCompleted, ""},
		{"the largest count is written whole", cfg(contracts.MaxCount, -1, 100),
			contracts.Counters{Done: 1, FailedBatches: 1, ItemsFailed: contracts.MaxCount + 1}, sealed(10), contracts.StateFailed,
			"2147483648 failed items exceed error_threshold 2147483647"},
		{"a fraction of a percent counts", cfg(-1, -1, 33.3),
			contracts.Counters{Done: 3, FailedBatches: 1, ItemsFailed: 1}, sealed(3), contracts.StateFailed, "(33.3%)"},
	} {
		v := Judge(&tc.cfg, tc.c, tc.st)
		if v.State != tc.state || !strings.Contains(v.Reason, tc.reason) || (tc.reason == "" && v.Reason != "") {
			t.Errorf("%s: Judge = %+v, want state %q, reason with %q", tc.name, v, tc.state, tc.reason)
		}
	}
}

// A job whose last batch ends it is judged by Judge wherever it is counted:
// every item failed fails it (no final file), some failed items complete
// it with a reason that says so.
func TestTheLastBatchSettlesTheJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		succeeded []int // per batch, of 2 items each
		state     string
		reason    string
	}{
		{"every item failed", []int{0, 0}, contracts.StateFailed, "every item failed (4 of 4 items)"},
		{"some items failed", []int{2, 1}, contracts.StateCompleted, "completed with 1 of 4 items failed"},
		{"no item failed", []int{2, 2}, contracts.StateCompleted, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := newLedger(t)
			ctx := context.Background()
			out := t.TempDir()
			job := addJob(t, l, "j", int64(len(tc.succeeded)), out)
			var done int64
			for i, n := range tc.succeeded {
				o, rev, err := l.Record(ctx, "j", contracts.BatchOutcome{Index: int64(i), Items: 2, Succeeded: n, Failed: 2 - n, OK: n == 2})
				if err != nil {
					t.Fatal(err)
				}
				if done, err = l.Count(ctx, job, o, rev); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.MaybeFinalize(ctx, job, done, nil); err != nil {
				t.Fatal(err)
			}
			st, _, _ := l.State(ctx, "j")
			if st.State != tc.state || st.Reason != tc.reason {
				t.Fatalf("state %s (%q), want %s (%q)", st.State, st.Reason, tc.state, tc.reason)
			}
			_, err := os.Stat(filepath.Join(out, job.Config.AppendRowFileName))
			if written := err == nil; written != (tc.state == contracts.StateCompleted) {
				t.Fatalf("final file written: %v, state %s", written, st.State)
			}
		})
	}
}
