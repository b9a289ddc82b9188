// Package watch is prs watch: a long-running service that scores object
// versions as they land. Object events (published by the store itself, such
// as MinIO's NATS target with JetStream, or by the listing source for
// stores without notifications and local folders) wait in the watch's
// JetStream event stream; the replica that leads the watch takes them,
// deduplicates each object version (its place and ETag, or a local file's
// content digest) against a KV bucket with a TTL, and groups the new ones
// into windows: each window is a job with the usual semantics, opened when
// its first file arrives, whose mini-batches are published as they fill,
// and sealed when it closes (after WindowFiles files or Window since its
// first file). How a mini-batch is committed so that each version is taken
// exactly once across crashes and replicas is told in window.go.
package watch
