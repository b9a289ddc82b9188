package ledger

import (
	"context"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// followReadTimeout bounds one read of Follow.
const followReadTimeout = 10 * time.Second

// Follow reads the job's state and counters every interval and hands them
// to fn until the job ends (it returns its final state) or ctx is done.
func (l *Ledger) Follow(ctx context.Context, jobID string, every time.Duration, fn func(contracts.JobState, contracts.Counters)) (contracts.JobState, error) {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		// Each read has a time of its own: a request lost with a server
		// that stops (a JetStream cluster losing a node) would otherwise
		// wait for ctx's end.
		st, c, err := l.readOnce(ctx, jobID)
		if err == nil {
			if fn != nil {
				fn(st, c)
			}
			if st.Terminal() {
				return st, nil
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

// readOnce reads a job's state and counters within followReadTimeout.
func (l *Ledger) readOnce(ctx context.Context, jobID string) (contracts.JobState, contracts.Counters, error) {
	ctx, cancel := context.WithTimeout(ctx, followReadTimeout)
	defer cancel()
	st, _, err := l.State(ctx, jobID)
	if err != nil {
		return st, contracts.Counters{}, err
	}
	c, err := l.B.ReadCounters(ctx, jobID)
	return st, c, err
}
