package contracts

import "fmt"

// Stream, bucket and subject names shared by producers and workers.
const (
	// BatchStream is the work-queue stream of mini-batch messages.
	BatchStream = "PRS_BATCHES"
	// BatchSubjects is BatchStream's subject filter.
	BatchSubjects = "prs.batch.>"
	// WorkerConsumer is the durable pull consumer every worker shares.
	WorkerConsumer = "prs-workers"
	// CounterStream holds one counter per job and counter name.
	CounterStream = "PRS_COUNTERS"
	// CounterSubjects is CounterStream's subject filter.
	CounterSubjects = "prs.count.>"
	// JobBucket is the KV bucket of job records, states and batch outcomes.
	JobBucket = "PRS_JOBS"
)

// Counter names, the last token of a counter subject.
const (
	CounterDone           = "done"
	CounterFailedBatches  = "failed_batches"
	CounterItemsSucceeded = "items_succeeded"
	CounterItemsFailed    = "items_failed"
	CounterRetried        = "retried"
)

// BatchSubject is the subject of a job's mini-batch messages.
func BatchSubject(jobID string) string { return "prs.batch." + jobID }

// CounterSubject is the subject of one of a job's counters.
func CounterSubject(jobID, name string) string { return "prs.count." + jobID + "." + name }

// KV keys. A job's keys all start with "job.<id>." so that one Watch covers them.

// JobKey holds the Job record.
func JobKey(jobID string) string { return "job." + jobID + ".spec" }

// StateKey holds the JobState.
func StateKey(jobID string) string { return "job." + jobID + ".state" }

// StateWatchPattern matches every job's state key.
const StateWatchPattern = "job.*.state"

// OutcomeKey holds a mini-batch's BatchOutcome.
func OutcomeKey(jobID string, index int64) string {
	return fmt.Sprintf("job.%s.batch.%d", jobID, index)
}

// DeliveriesKey holds a mini-batch's BatchDeliveries: its deliveries in
// every generation and those handed back, which do not spend the user's
// run_max_try.
func DeliveriesKey(jobID string, index int64) string {
	return fmt.Sprintf("job.%s.deliveries.%d", jobID, index)
}

// IsolationKey marks a mini-batch whose isolation (isolate_failures) began:
// it holds the try on which it began, so that a redelivery after the
// worker died during the isolation isolates again instead of failing out of
// tries.
func IsolationKey(jobID string, index int64) string {
	return fmt.Sprintf("job.%s.isolate.%d", jobID, index)
}

// FinalizeKey is the finaliser's claim.
func FinalizeKey(jobID string) string { return "job." + jobID + ".finalize" }

// ReuseKey maps a job fingerprint to the completed job that has it.
func ReuseKey(fingerprint string) string { return "reuse." + fingerprint }

// ResultKey is where an attempt writes its rows, relative to the staging root.
// Each attempt has its own key, so a late or duplicate attempt never touches
// the rows the outcome record points to.
// Keys are grouped a thousand batches to a folder.
func ResultKey(index int64, attempt int, worker string) string {
	return fmt.Sprintf("results/%07d/%010d-%d-%s.jsonl", index/1000, index, attempt, worker)
}

// FilesKey is the folder, relative to the staging root, where an attempt
// keeps the files its script wrote to its output_dir, until the job's
// finalisation copies the recorded attempt's files to the output. Like
// ResultKey it names the mini-batch, the attempt and the worker; token
// (letters and digits) tells apart two attempts that share those (a resumed
// job counts its tries afresh), so that no folder mixes two attempts'
// files. It ends with "/".
func FilesKey(index int64, attempt int, worker, token string) string {
	return fmt.Sprintf("files/%07d/%010d-%d-%s-%s/", index/1000, index, attempt, worker, token)
}
