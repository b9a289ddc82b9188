// Package producer submits jobs: it validates the configuration and every
// place the job touches before writing anything, lists the input (streaming,
// twice: once to fingerprint it for allow_reuse and once to publish), ships
// the source folder, records the job in KV, publishes one mini-batch message
// per mini_batch_size files with a deterministic index and message id, and
// records the job with its totals before publishing. Submitting the same job
// id again resumes it.
package producer
