// Package consumer is the worker runtime of prs: it pulls mini-batch messages
// from the JetStream work queue, runs them through a Handler (the entry-script
// subprocess or a built-in model), writes each attempt's rows to object
// storage, records each mini-batch's outcome exactly once in KV, and decides in
// one place what happens to every message: ack, nak with delay, in-progress
// heartbeat or terminate.
package consumer
