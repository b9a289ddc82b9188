// Package producer submits jobs: it validates the configuration and every
// place the job touches before writing anything, lists the input (streaming,
// twice: once to count and fingerprint it for allow_reuse, once to publish),
// ships the source folder, records the job in KV with its totals, and then
// publishes one mini-batch message per mini_batch_size files with a
// deterministic index and message id. Submitting the same job id again
// resumes it.
//
// # Supported use
//
// A Producer is built by cmd/prs (prs submit, prs run): its Config takes an
// *internal/ledger.Ledger, which only this module can make, so cmd/prs is
// the only supported way to submit a job. Another module can use
// StagingURI and NewJobID, and describe a job with package contracts,
// whose Config is what prs submit --config reads.
package producer
