package exporter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// queue is the work queue as one scrape read it.
type queue struct {
	waiting, inFlight int64
	jobs              map[string]jobQueue
}

type jobQueue struct{ waiting, inFlight int64 }

// readQueue reads the workers' consumer, then the stream's count per
// subject, then the subjects of the messages in flight (see the package
// comment for why these are the figures).
func readQueue(ctx context.Context, js jetstream.JetStream) (queue, error) {
	q := queue{jobs: map[string]jobQueue{}}
	stream, err := js.Stream(ctx, contracts.BatchStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return q, nil // never set up: nothing is queued
	}
	if err != nil {
		return q, fmt.Errorf("stream %s: %w", contracts.BatchStream, err)
	}
	var delivered uint64
	cons, err := stream.Consumer(ctx, contracts.WorkerConsumer)
	noConsumer := errors.Is(err, jetstream.ErrConsumerNotFound)
	switch {
	case noConsumer:
		// No worker consumer yet: nothing was ever delivered.
	case err != nil:
		return q, fmt.Errorf("consumer %s: %w", contracts.WorkerConsumer, err)
	default:
		ci := cons.CachedInfo()
		delivered = ci.Delivered.Stream
		q.waiting, q.inFlight = int64(ci.NumPending), int64(ci.NumAckPending)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(contracts.BatchSubjects))
	if err != nil {
		return q, fmt.Errorf("stream %s subjects: %w", contracts.BatchStream, err)
	}
	if noConsumer {
		q.waiting = int64(info.State.Msgs)
	}
	inFlight, err := inFlightByJob(ctx, stream, info.State.FirstSeq, delivered)
	if err != nil {
		return q, err
	}
	for subj, n := range info.State.Subjects {
		id := jobOf(subj)
		f := inFlight[id]
		q.jobs[id] = jobQueue{waiting: max(int64(n)-f, 0), inFlight: f}
	}
	return q, nil
}

// inFlightByJob counts, per job, the messages still in the stream at or
// below the consumer's last delivered sequence: the ones delivered and not
// acknowledged. One request per such message; none when nothing was
// delivered.
func inFlightByJob(ctx context.Context, stream jetstream.Stream, first, delivered uint64) (map[string]int64, error) {
	out := map[string]int64{}
	for seq := max(first, 1); seq <= delivered; {
		m, err := stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(contracts.BatchSubjects))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s message at or after %d: %w", contracts.BatchStream, seq, err)
		}
		if m.Sequence > delivered {
			break
		}
		out[jobOf(m.Subject)]++
		seq = m.Sequence + 1
	}
	return out, nil
}

// jobOf is the job id of a mini-batch subject (prs.batch.<job>).
func jobOf(subject string) string {
	return strings.TrimPrefix(subject, contracts.BatchSubject(""))
}
