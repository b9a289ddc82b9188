// Package broker sets up and talks to the JetStream side of prs: the
// work-queue stream of mini-batches and its shared worker consumer, the
// counter stream whose increments are deduplicated per mini-batch, and the
// KV bucket of jobs; it also connects to NATS and runs the embedded server.
package broker
