package consumer

import "time"

// sweep removes the per-batch records of finished jobs whose retention is
// past (ledger.Sweep), when the worker starts and every SweepEvery, until
// it stops; at the start it first marks the jobs that ended unmarked
// (ledger.MarkEndedJobs), which reads every job's state once. Every worker
// sweeps: a sweep reads only the jobs that have ended and still have
// records, so a quiet fleet's sweeps cost a listing of no keys; two
// workers sweeping one job at once purge it twice, which changes nothing.
func (w *Worker) sweep() {
	defer w.watchWG.Done()
	// Jobs that ended under an older prs have no ended mark: mark them
	// once, at the start.
	if n, err := w.cfg.Ledger.MarkEndedJobs(w.ctx); err != nil && w.ctx.Err() == nil {
		w.cfg.Logger.Warn("marking the jobs that ended unmarked, for the retention sweep", "err", err)
	} else if n > 0 {
		w.cfg.Logger.Info("marked jobs that ended unmarked, for the retention sweep", "jobs", n)
	}
	t := time.NewTicker(w.cfg.SweepEvery)
	defer t.Stop()
	for {
		stats, err := w.cfg.Ledger.Sweep(w.ctx, w.cfg.JobRetention)
		if err != nil && w.ctx.Err() == nil {
			w.cfg.Logger.Warn("retention sweep (tried again at the next one)", "err", err)
		} else if stats.Expired > 0 {
			w.cfg.Logger.Info("retention sweep", "expired_jobs", stats.Expired, "ended_jobs_kept", stats.Waiting, "retention", w.cfg.JobRetention)
		}
		select {
		case <-w.ctx.Done():
			return
		case <-w.draining:
			return
		case <-t.C:
		}
	}
}
