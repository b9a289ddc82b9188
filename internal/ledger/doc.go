// Package ledger keeps a job's record in JetStream KV and its counters in the
// counter stream. It is the only writer of job state (CreateJob,
// RecordReused, Resume, Stop, the finalisation) and the one place where a
// mini-batch's outcome is recorded, counted, judged with the job's
// thresholds (Judge, the one rule of a job's fate) and, for the last one,
// turned into the job's final output.
//
// Exactly-once counting: the first process to finish a mini-batch wins a KV
// Create of the batch's outcome key; every later attempt, redelivery or
// duplicate finds the key and uses the recorded outcome instead of its own.
// The record is counted with one increment of the job's outcomes counter
// (contracts.OutcomeCounts: done, failures and items at once), carrying a
// message id made of the job and the batch index, so a process that dies
// between recording and counting is replaced by the redelivery of the same
// message, which sends the same increment again and JetStream drops it if
// it counted. The outcome is then marked counted, so a message delivered
// after the dedup window is not counted again either; a resume publishes a batch recorded but not marked again,
// for a worker to count.
//
// Exactly-once rows: each attempt keeps its rows apart, small ones in its
// own outcome record (inline_rows_max), larger ones under its own key that
// the record names; only the outcome that won is read by the finaliser, in
// mini-batch order.
//
// Isolation (isolate_failures): the parts of an isolated mini-batch are
// run by one delivery, which writes their rows once, under its own key, and
// records one outcome; BeginIsolation marks that an isolation began, so that
// a redelivery whose worker died during it isolates again instead of
// failing out of tries.
//
// Exactly-once finalisation: the job is recorded with its total before any
// mini-batch is published, and the worker that sees the done counter reach
// that total (or a producer resuming a job whose batches all ended) claims
// the job's finalize key with a KV Create, writes the final file in one atomic put, and moves the state from
// Running to Completed by compare-and-swap. A claim that stops being renewed
// (its holder died) is taken over after a lease; the final file is written
// whole each time, so a takeover never duplicates a row.
package ledger
