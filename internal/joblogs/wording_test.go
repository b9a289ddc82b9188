package joblogs_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
)

// negative matches a negative count in words.
var negative = regexp.MustCompile(`[ (]-[0-9]`)

// TestOverviewThresholds: a threshold says how many more failures it
// tolerates, or by how many it was exceeded, never "-1 to go"; counts of
// one are singular.
func TestOverviewThresholds(t *testing.T) {
	t.Parallel()
	job := &contracts.Job{ID: "j", Config: contracts.DefaultConfig()}
	job.Config.ErrorThreshold, job.Config.AllowedFailedCount = 3, 1
	now := time.Now()
	st := contracts.JobState{State: contracts.StateFailed, Sealed: true, TotalBatches: 10, TotalItems: 100, Created: now.Add(-time.Minute), Finished: now}
	for _, tc := range []struct {
		c    contracts.Counters
		want []string
	}{
		{contracts.Counters{Done: 2, FailedBatches: 1, ItemsFailed: 1, Retried: 1},
			[]string{"1 retry\n", "error_threshold: 3 (1 failed item; 2 more tolerated)", "allowed_failed_count: 1 (1 failed mini-batch; 0 more tolerated)"}},
		{contracts.Counters{Done: 4, FailedBatches: 2, ItemsFailed: 4, Retried: 0},
			[]string{"0 retries\n", "error_threshold: 3 (4 failed items; exceeded by 1)", "allowed_failed_count: 1 (2 failed mini-batches; exceeded by 1)"}},
	} {
		got := joblogs.Overview(job, st, tc.c, now)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("overview lacks %q:\n%s", w, got)
			}
		}
		if strings.Contains(got, "to go") || negative.MatchString(got) {
			t.Errorf("overview:\n%s", got)
		}
	}
	job.Config.ErrorThreshold = -1
	if got := joblogs.Overview(job, st, contracts.Counters{ItemsFailed: 1}, now); !strings.Contains(got, "error_threshold: unset (1 failed item)") {
		t.Errorf("overview of an unset threshold:\n%s", got)
	}
}

// TestErrorSummaryKinds: "1 kind of error", "2 kinds of error".
func TestErrorSummaryKinds(t *testing.T) {
	t.Parallel()
	rec := func(typ, msg string) contracts.AttemptRecord {
		return contracts.AttemptRecord{Index: 1, Attempt: 1, Worker: "w", Host: "h", ErrorType: typ, Error: msg, Result: contracts.ResultFailed}
	}
	one := string(joblogs.ErrorSummary([]contracts.AttemptRecord{rec("KeyError", "'a'"), rec("KeyError", "'a'")}))
	if !strings.HasPrefix(one, "1 kind of error\n") || !strings.Contains(one, "2 x KeyError: 'a'") {
		t.Errorf("summary of one kind:\n%s", one)
	}
	two := string(joblogs.ErrorSummary([]contracts.AttemptRecord{rec("KeyError", "'a'"), rec("Timeout", "run() passed run_invocation_timeout")}))
	if !strings.HasPrefix(two, "2 kinds of error\n") {
		t.Errorf("summary of two kinds:\n%s", two)
	}
}
