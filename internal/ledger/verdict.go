package ledger

import (
	"context"
	"fmt"

	"github.com/parallelrun/prs/contracts"
)

// Verdict is a job's fate as its counters tell it.
type Verdict struct {
	// State is contracts.StateFailed or contracts.StateCompleted when the
	// job ends, "" while it goes on.
	State string
	// Reason says why the job failed, or that a completed job has failed
	// items ("completed with 3 of 20 items failed"); it becomes the job
	// state's reason.
	Reason string
}

// ReasonEveryItemFailed is the reason of a job that ended with failed items
// and no item succeeded, whatever its thresholds tolerate.
const ReasonEveryItemFailed = "every item failed"

// Judge is the one rule of a job's fate. The job fails as soon as a
// threshold is exceeded: error_threshold (failed items), allowed_failed_count
// (failed mini-batches) and allowed_failed_percent, which is judged against
// the total once the producer has recorded it, never against the batches
// done so far (a run's first failed batch would otherwise be 100%). A job
// whose every mini-batch is done, and that exceeds no threshold, completes,
// unless every item failed: a job where nothing worked fails, even under
// thresholds that tolerate every failure. A job that completes with failed
// items says so in its reason.
func Judge(cfg *contracts.Config, c contracts.Counters, st contracts.JobState) Verdict {
	for _, t := range contracts.Thresholds(cfg, c, st) {
		if t.Exceeded() {
			return failed("%s", exceeded(t, st))
		}
	}
	if !st.Sealed || c.Done < st.TotalBatches {
		return Verdict{}
	}
	items := c.ItemsSucceeded + c.ItemsFailed
	switch {
	case c.ItemsFailed > 0 && c.ItemsSucceeded == 0:
		return failed("%s (%d of %d items)", ReasonEveryItemFailed, c.ItemsFailed, items)
	case c.ItemsFailed > 0:
		return Verdict{State: contracts.StateCompleted, Reason: fmt.Sprintf("completed with %d of %d items failed", c.ItemsFailed, items)}
	}
	return Verdict{State: contracts.StateCompleted}
}

// exceeded says how threshold t was exceeded, the reason of a failed job.
func exceeded(t contracts.Threshold, st contracts.JobState) string {
	switch t.Key {
	case "error_threshold":
		return fmt.Sprintf("%d failed items exceed error_threshold %d", t.Failed, int64(t.Limit))
	case "allowed_failed_count":
		return fmt.Sprintf("%d failed mini-batches exceed allowed_failed_count %d", t.Failed, int64(t.Limit))
	}
	return fmt.Sprintf("%d of %d mini-batches failed (%.1f%%), above %s %v", t.Failed, st.TotalBatches, t.Now, t.Key, t.Limit)
}

func failed(format string, args ...any) Verdict {
	return Verdict{State: contracts.StateFailed, Reason: fmt.Sprintf(format, args...)}
}

// settle judges a running job (st is its state) by its counters and carries
// out the verdict: a failed job is stopped; a completed one is finalised
// when finish is set (Count leaves that to MaybeFinalize). heartbeat, when
// not nil, is called while the finalisation works.
func (l *Ledger) settle(ctx context.Context, job *contracts.Job, st contracts.JobState, finish bool, heartbeat func()) error {
	c, err := l.B.ReadCounters(ctx, job.ID)
	if err != nil {
		return err
	}
	switch v := Judge(&job.Config, c, st); {
	case v.State == contracts.StateFailed:
		_, err := l.Stop(ctx, job.ID, contracts.StateFailed, v.Reason)
		return err
	case v.State == contracts.StateCompleted && finish:
		return l.finalize(ctx, job, st.TotalBatches, v.Reason, heartbeat)
	}
	return nil
}
