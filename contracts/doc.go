// Package contracts holds the wire types of prs: the job configuration (with
// ParallelRunConfig's own key names), the mini-batch message, the per-batch
// outcome record, the job state, and the names of the JetStream subjects,
// streams and KV keys that producers and workers share.
//
// It is the floor of the dependency graph: it imports only the standard
// library, and producer/, consumer/ and internal/ import it. It is the
// public API for other modules: a job's configuration checked as prs
// checks it (DefaultConfig, Config.Validate, Settings), and the records
// prs keeps in JetStream and the output, to read them (the processes that
// write them are cmd/prs's).
package contracts
