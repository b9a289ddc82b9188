package ledger

import (
	"context"
	"fmt"

	"github.com/parallelrun/prs/contracts"
)

// RewriteFinal writes a completed job's final file again, from its
// recorded outcomes and the rows they name under its staging folder, as
// the job's finalisation wrote it (for an output whose final file was
// deleted), and copies the files of its scripts' output_dir again. The
// job's state does not change. It fails when a batch's rows are no longer
// staged.
func (l *Ledger) RewriteFinal(ctx context.Context, job *contracts.Job) (string, error) {
	st, _, err := l.State(ctx, job.ID)
	if err != nil {
		return "", err
	}
	if st.State != contracts.StateCompleted {
		return "", fmt.Errorf("job %s is %s, not Completed", job.ID, st.State)
	}
	return l.writeOutputs(ctx, job, st.TotalBatches)
}
