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
func (l *Ledger) Delivered(ctx context.Context, jobID string, index int64, gen, n int) (contracts.BatchDeliveries, error) {
	if gen == 0 && n == 1 {
		// A batch's first delivery: one write, no read, as a rule.
		d := contracts.BatchDeliveries{Delivered: map[int]int{0: 1}}
		b, _ := json.Marshal(d)
		_, err := l.B.Jobs.Create(ctx, contracts.DeliveriesKey(jobID, index), b)
		if err == nil {
			return d, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return d, fmt.Errorf("deliveries of batch %d of job %s: %w", index, jobID, err)
		}
	}
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
