package ledger

import (
	"context"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// Follow reads the job's state and counters every interval and hands them
// to fn until the job ends (it returns its final state) or ctx is done.
func (l *Ledger) Follow(ctx context.Context, jobID string, every time.Duration, fn func(contracts.JobState, contracts.Counters)) (contracts.JobState, error) {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		st, _, err := l.State(ctx, jobID)
		if err == nil {
			var c contracts.Counters
			if c, err = l.B.ReadCounters(ctx, jobID); err == nil {
				if fn != nil {
					fn(st, c)
				}
				if st.Terminal() {
					return st, nil
				}
			}
		}
		if err != nil {
			l.Log.Debug("following the job", "job", jobID, "err", err)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
	}
}
