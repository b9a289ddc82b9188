package contracts

// Threshold is one of a job's failure thresholds measured against its
// counters: the one measure that the ledger judges a job by (ledger.Judge)
// and that the job's overview shows.
type Threshold struct {
	// Key is the setting: error_threshold, allowed_failed_count or
	// allowed_failed_percent.
	Key string
	// Limit is the setting's value; Set is false when it tolerates every
	// failure (-1 for the counts, 100 for the percentage).
	Limit float64
	Set   bool
	// Failed is what the setting counts so far: failed items, or failed
	// mini-batches (for the percentage too).
	Failed int64
	// Now is what is held against Limit: Failed, or for the percentage the
	// share of the job's total mini-batches that failed (0 while the total
	// is not recorded).
	Now float64
	// Known is false while Now cannot be judged yet: the percentage waits
	// for the producer to seal the job's total, so that a run's first
	// failed mini-batch is not 100%.
	Known bool
}

// Exceeded reports whether the threshold fails the job: it is set, known,
// and what it measures is above its limit (reaching the limit is
// tolerated).
func (t Threshold) Exceeded() bool { return t.Set && t.Known && t.Now > t.Limit }

// Thresholds measures a job's thresholds (cfg) against its counters c and
// its state st, in the order they are judged: error_threshold,
// allowed_failed_count, allowed_failed_percent.
func Thresholds(cfg *Config, c Counters, st JobState) []Threshold {
	pct := Threshold{Key: "allowed_failed_percent", Limit: cfg.AllowedFailedPercent, Set: cfg.AllowedFailedPercent < 100,
		Failed: c.FailedBatches, Known: st.Sealed && st.TotalBatches > 0}
	if st.TotalBatches > 0 {
		pct.Now = 100 * float64(c.FailedBatches) / float64(st.TotalBatches)
	}
	return []Threshold{
		{Key: "error_threshold", Limit: float64(cfg.ErrorThreshold), Set: cfg.ErrorThreshold >= 0,
			Failed: c.ItemsFailed, Now: float64(c.ItemsFailed), Known: true},
		{Key: "allowed_failed_count", Limit: float64(cfg.AllowedFailedCount), Set: cfg.AllowedFailedCount >= 0,
			Failed: c.FailedBatches, Now: float64(c.FailedBatches), Known: true},
		pct,
	}
}
