package ledger

import (
	"context"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// followReadTimeout bounds each of Follow's reads. A request in flight
// when the connection to NATS drops (a server restart) is never answered,
// and the client fails it only at its context's deadline: without a bound
// of its own, one read would wait for the whole of ctx.
var followReadTimeout = 10 * time.Second

// Follow reads the job's state and counters every interval and hands them
// to fn until the job ends (it returns its final state) or ctx is done.
// Reads that fail (NATS restarting) are tried again at the next interval.
func (l *Ledger) Follow(ctx context.Context, jobID string, every time.Duration, fn func(contracts.JobState, contracts.Counters)) (contracts.JobState, error) {
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var last contracts.JobState
	for {
		st, c, err := l.read(ctx, jobID)
		if err == nil {
			last = st
			if fn != nil {
				fn(st, c)
			}
			if st.Terminal() {
				return st, nil
			}
		} else {
			l.Log.Debug("following the job", "job", jobID, "err", err)
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// read reads a job's state and counters within followReadTimeout.
func (l *Ledger) read(ctx context.Context, jobID string) (contracts.JobState, contracts.Counters, error) {
	ctx, cancel := context.WithTimeout(ctx, followReadTimeout)
	defer cancel()
	st, _, err := l.State(ctx, jobID)
	if err != nil {
		return st, contracts.Counters{}, err
	}
	c, err := l.B.ReadCounters(ctx, jobID)
	return st, c, err
}
