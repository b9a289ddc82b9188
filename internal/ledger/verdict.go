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
	if cfg.ErrorThreshold >= 0 && c.ItemsFailed > int64(cfg.ErrorThreshold) {
		return failed("%d failed items exceed error_threshold %d", c.ItemsFailed, cfg.ErrorThreshold)
	}
	if cfg.AllowedFailedCount >= 0 && c.FailedBatches > int64(cfg.AllowedFailedCount) {
		return failed("%d failed mini-batches exceed allowed_failed_count %d", c.FailedBatches, cfg.AllowedFailedCount)
	}
	if st.Sealed && st.TotalBatches > 0 && cfg.AllowedFailedPercent < 100 {
		pct := 100 * float64(c.FailedBatches) / float64(st.TotalBatches)
		if pct > cfg.AllowedFailedPercent {
			return failed("%d of %d mini-batches failed (%.1f%%), above allowed_failed_percent %v",
				c.FailedBatches, st.TotalBatches, pct, cfg.AllowedFailedPercent)
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
