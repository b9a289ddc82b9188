package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// RewriteFinal writes a completed job's final file again, from its
// recorded outcomes and the rows they name under its staging folder, as
// the job's finalisation wrote it (for an output whose final file was
// deleted), and copies the files of its scripts' output_dir again when
// they are still staged (keep_staging; the default removes them at the
// end, leaving the copies in the output the only ones). The
// job's state does not change. It fails with an error that wraps
// objstore.ErrNotFound when a batch's rows are no longer staged (the job
// ended without keep_staging), and with ErrExpired once its outcomes are
// gone (its retention past).
func (l *Ledger) RewriteFinal(ctx context.Context, job *contracts.Job) (string, error) {
	st, _, err := l.State(ctx, job.ID)
	if err != nil {
		return "", err
	}
	if st.State != contracts.StateCompleted {
		return "", fmt.Errorf("job %s is %s, not Completed", job.ID, st.State)
	}
	if !st.Expired.IsZero() {
		return "", fmt.Errorf("job %s: %w (on %s)", job.ID, ErrExpired, st.Expired.Format(time.RFC3339))
	}
	return l.writeOutputs(ctx, job, st.TotalBatches)
}
