// Package producer submits jobs: it validates the configuration and every
// place the job touches before writing anything, lists the input (streaming,
// twice: once to count and fingerprint it for allow_reuse, once to publish),
// ships the source folder, records the job in KV with its totals, and then
// publishes one mini-batch message per mini_batch_size files with a
// deterministic index and message id. Submitting the same job id again
// resumes it.
package producer
