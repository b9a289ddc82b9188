// Package consumer is the worker runtime of prs: it pulls mini-batch messages
// from the JetStream work queue, runs them through a Handler (the entry-script
// subprocess or a built-in model), writes each attempt's rows to object
// storage, records each mini-batch's outcome exactly once in KV, and decides in
// one place what happens to every message: ack, nak with delay, in-progress
// heartbeat or terminate.
//
// A slot handles a delivery in four steps: open and learn (what the message,
// the job and the ledger say), decide (a pure function of those facts: run
// the attempt, ack with an outcome, retry after a delay, hand back without
// spending a try, or terminate), attempt (prepare, run the handler, write
// its rows; decide is asked again) and execute (the decision carried out).
// With isolate_failures, a run() that fails on the last try makes decide
// say isolate: the slot runs the batch again in parts (isolate.go, the
// bisection in isolation.go, the parts of a Batch in parts.go) and decide is
// asked a last time. Tally is the one rule of succeeded and failed items;
// RunBatch is the one run path of an attempt (a slot's and prs debug's);
// an isolation's parts go through its two steps (the batch loaded once,
// each part run under run_invocation_timeout).
//
// # Supported use
//
// A Worker is built by cmd/prs (prs worker, prs run): its Config takes an
// *internal/ledger.Ledger, which only this module can make, so cmd/prs is
// the only supported way to run a worker. What another module can use is
// the handler side: Handler and HandlerFunc, Batch, Result and Tally, and
// the handlers in consumer/entryscript and consumer/onnx with their
// JobEnv. A handler of your own runs in tests of your own (see
// ExampleHandlerFunc); a fleet runs the built-in handlers.
package consumer
