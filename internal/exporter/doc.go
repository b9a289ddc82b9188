// Package exporter reports prs's work queue to Prometheus from JetStream
// alone, so that an autoscaler sees the queue while no worker runs (the
// fleet at zero). It is what `prs exporter` serves.
//
// What it reads, on every scrape:
//
//   - the workers' consumer (prs-workers on PRS_BATCHES): num_pending is the
//     mini-batches waiting (never delivered), num_ack_pending the mini-batches
//     in flight (delivered and not yet acknowledged: running, waiting for a
//     retry after a NakWithDelay, or lost with a dead worker until their ack
//     wait passes). Their sum is the lag KEDA's nats-jetstream scaler reads
//     from the server's monitoring port, so both autoscalers see one number;
//   - per job, the stream's count of messages per subject prs.batch.<job>
//     (stream info with a subjects filter, one request): on a work-queue
//     stream an acknowledged message is deleted, so this is the job's
//     waiting plus in flight;
//   - per job in flight, the messages still in the stream at or below the
//     consumer's last delivered stream sequence: on a work-queue stream with
//     one consumer those are exactly the ones delivered and not acknowledged.
//     They are found by asking for the next message of prs.batch.> from the
//     stream's first sequence on, one request per message in flight, so the
//     cost is bounded by the consumer's max_ack_pending (prs sets 10000) and
//     is in practice the fleet's number of busy slots. A job's waiting is its
//     count less its in flight;
//   - the jobs' states from the PRS_JOBS bucket (a watch on job.*.state, kept
//     between scrapes) and each job's recorded node_count (job.<id>.spec,
//     read once per job).
//
// The reads are not one atomic snapshot: a mini-batch delivered or
// acknowledged between them may be counted in the state it just left, for
// that one scrape. The totals are the consumer's own numbers; the per-job
// figures may differ from them by those moves.
//
// A scrape that cannot read JetStream reports prs_exporter_up 0 and no
// queue figures at all, never zeros: an autoscaler that reads a missing
// metric holds the fleet where it is instead of scaling it in. A fleet that
// was never set up (no stream yet) has an empty queue and reports zeros.
package exporter
