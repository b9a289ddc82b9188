package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// Delivered notes delivery n (the message's NumDelivered) of a mini-batch
// in publishing generation gen, and returns what KV knows of the batch's
// deliveries with it. NumDelivered starts again with each generation (a
// resume publishes the batch anew), so the tries of a batch are the
// deliveries of every generation less those handed back.
//
// A first delivery in its generation is not written (most batches have
// no other, and a write per batch is a round trip): while the generation
// lasts, the message's own NumDelivered counts it, and a resume, which ends
// the generation, notes the first deliveries of the messages it purges
// (Resume). A first delivery of generation 0 reads nothing either.
func (l *Ledger) Delivered(ctx context.Context, jobID string, index int64, gen, n int) (contracts.BatchDeliveries, error) {
	if n == 1 && gen == 0 {
		return contracts.BatchDeliveries{Delivered: map[int]int{0: 1}}, nil
	}
	if n == 1 {
		d, err := l.Deliveries(ctx, jobID, index)
		d.Delivered[gen] = max(d.Delivered[gen], 1)
		return d, err
	}
	return l.noteDelivery(ctx, jobID, index, gen, n)
}

// noteDelivery writes delivery n of generation gen unless the record holds
// it already.
func (l *Ledger) noteDelivery(ctx context.Context, jobID string, index int64, gen, n int) (contracts.BatchDeliveries, error) {
	return l.updateDeliveries(ctx, jobID, index, func(d *contracts.BatchDeliveries) bool {
		if d.Delivered[gen] >= n {
			return false
		}
		d.Delivered[gen] = n
		return true
	})
}

// HandedBack counts one more delivery of a batch sent back without
// spending a try (a storage or broker error, or its worker stopping).
func (l *Ledger) HandedBack(ctx context.Context, jobID string, index int64) error {
	_, err := l.updateDeliveries(ctx, jobID, index, func(d *contracts.BatchDeliveries) bool {
		d.HandedBack++
		return true
	})
	return err
}

// Deliveries reads what KV knows of a mini-batch's deliveries (none yet:
// an empty record).
func (l *Ledger) Deliveries(ctx context.Context, jobID string, index int64) (contracts.BatchDeliveries, error) {
	return l.updateDeliveries(ctx, jobID, index, func(*contracts.BatchDeliveries) bool { return false })
}

// updateDeliveries applies change to a batch's deliveries record by
// compare-and-swap (change reports whether it changed anything) and returns
// the record that holds.
func (l *Ledger) updateDeliveries(ctx context.Context, jobID string, index int64, change func(*contracts.BatchDeliveries) bool) (contracts.BatchDeliveries, error) {
	key := contracts.DeliveriesKey(jobID, index)
	for {
		d := contracts.BatchDeliveries{Delivered: map[int]int{}}
		var rev uint64
		e, err := l.B.Jobs.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
		case err != nil:
			return d, fmt.Errorf("deliveries of batch %d of job %s: %w", index, jobID, err)
		default:
			if err := json.Unmarshal(e.Value(), &d); err != nil {
				return d, fmt.Errorf("deliveries of batch %d of job %s: %w", index, jobID, err)
			}
			if d.Delivered == nil {
				d.Delivered = map[int]int{}
			}
			rev = e.Revision()
		}
		if !change(&d) {
			return d, nil
		}
		b, _ := json.Marshal(d)
		if rev == 0 {
			_, err = l.B.Jobs.Create(ctx, key, b)
		} else {
			_, err = l.B.Jobs.Update(ctx, key, b, rev)
		}
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isWrongSequence(err) {
			return d, fmt.Errorf("deliveries of batch %d of job %s: %w", index, jobID, err)
		}
		if ctx.Err() != nil {
			return d, ctx.Err()
		}
	}
}

// Outcomes returns every recorded outcome of a job, in mini-batch order,
// without the rows it holds (inline_rows_max): they are for the final file
// alone, and a job's reports would otherwise hold its whole output in
// memory. It reads them in one pass over the bucket (a watch of the job's
// outcome keys), not one request per batch.
func (l *Ledger) Outcomes(ctx context.Context, jobID string) ([]contracts.BatchOutcome, error) {
	w, err := l.B.Jobs.Watch(ctx, fmt.Sprintf("job.%s.batch.*", jobID), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("outcomes of job %s: %w", jobID, err)
	}
	defer func() { _ = w.Stop() }()
	var out []contracts.BatchOutcome
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("outcomes of job %s: %w", jobID, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("outcomes of job %s: the watch closed", jobID)
			}
			if e == nil { // every current value has come
				slices.SortFunc(out, func(a, b contracts.BatchOutcome) int { return cmp.Compare(a.Index, b.Index) })
				return out, nil
			}
			var o contracts.BatchOutcome
			if err := json.Unmarshal(e.Value(), &o); err != nil {
				return nil, fmt.Errorf("outcomes of job %s: %s: %w", jobID, e.Key(), err)
			}
			o.Rows = nil
			out = append(out, o)
		}
	}
}

// resumeLookAhead is how many of a job's queued messages past the last one
// delivered a resume reads before it purges them: those that workers take
// between the resume's look at the consumer and its purge (a few
// milliseconds) are among them.
const resumeLookAhead = 1000

// queuedBatch is a queued message of a job: its stream sequence, batch
// and publishing generation.
type queuedBatch struct {
	seq   uint64
	index int64
	gen   int
}

// purgeNotingDeliveries purges a job's queued mini-batches and notes the
// first deliveries of those that had one (Delivered writes none), so that
// a try lost with its worker before the resume still counts after it. A
// queued message was delivered when its sequence is at most the workers'
// consumer's last delivered one. The messages are read from the consumer's
// ack floor on (those delivered and not acked, and resumeLookAhead more),
// then the consumer again, then they are purged: a purge moves the
// consumer's last delivered sequence past the messages it removes, so it is
// read before. A message first delivered between that read and the purge
// (a few milliseconds) is not noted: its batch may run one try more.
func (l *Ledger) purgeNotingDeliveries(ctx context.Context, jobID string) error {
	subject := contracts.BatchSubject(jobID)
	info, err := l.B.Consumer.Info(ctx)
	if err != nil {
		return fmt.Errorf("job %s: reading the workers' consumer: %w", jobID, err)
	}
	queued, more, err := l.queuedBatches(ctx, subject, info.AckFloor.Stream+1, info.Delivered.Stream)
	if err != nil {
		return fmt.Errorf("job %s: reading its queued mini-batches: %w", jobID, err)
	}
	if len(queued) > 0 {
		if info, err = l.B.Consumer.Info(ctx); err != nil {
			return fmt.Errorf("job %s: reading the workers' consumer: %w", jobID, err)
		}
	}
	if err := l.B.Batches.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("job %s: purging its queued mini-batches: %w", jobID, err)
	}
	for _, q := range queued {
		if q.seq > info.Delivered.Stream {
			break
		}
		if _, err := l.noteDelivery(ctx, jobID, q.index, q.gen, 1); err != nil {
			return err
		}
	}
	if last := len(queued) - 1; more && queued[last].seq < info.Delivered.Stream {
		l.Log.Warn("more mini-batches were taken during the resume than it looked at: a first try of one lost with its worker may not count", "job", jobID)
	}
	return nil
}

// queuedBatches reads the queued messages on subject from sequence from on:
// every one up to delivered, and resumeLookAhead more (more tells that
// others were left).
func (l *Ledger) queuedBatches(ctx context.Context, subject string, from, delivered uint64) (out []queuedBatch, more bool, err error) {
	ahead := 0
	for seq := from; ; {
		m, err := l.B.Batches.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		if ahead == resumeLookAhead {
			return out, true, nil
		}
		mb, err := contracts.DecodeMiniBatch(m.Data)
		if err == nil {
			out = append(out, queuedBatch{seq: m.Sequence, index: mb.Index, gen: mb.Generation})
		}
		if m.Sequence > delivered {
			ahead++
		}
		seq = m.Sequence + 1
	}
}
