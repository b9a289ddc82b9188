// Package contracts holds the wire types of prs: the job configuration (with
// ParallelRunConfig's own key names), the mini-batch message, the per-batch
// outcome record, the job state, and the names of the JetStream subjects,
// streams and KV keys that producers and workers share.
//
// It is the floor of the dependency graph: it imports only the standard
// library, and producer/, consumer/ and internal/ import it.
package contracts
