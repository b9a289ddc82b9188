package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/objstore"
)

// publish lists the input and publishes its first items included files as
// mini-batches under the given generation (or the planned ones of pl).
// From the second generation on, mini-batches that already have an
// outcome are not published again (an outcome whose counting was cut
// short is counted here).
func (p *Producer) publish(ctx context.Context, job *contracts.Job, input objstore.Store, generation int, items int64, pl *plan) error {
	pub := &publisher{p: p, ctx: ctx, job: job, generation: generation}
	if pl != nil {
		if err := pl.each(pub.emit); err != nil {
			return err
		}
		p.cfg.Metrics.Listed(int(items))
		return pub.wait()
	}
	if err := p.publishFiles(ctx, pub, input, items); err != nil {
		return err
	}
	return pub.wait()
}

// publishFiles lists a file input again and publishes its first items
// files, mini_batch_size to a message.
func (p *Producer) publishFiles(ctx context.Context, pub *publisher, input objstore.Store, items int64) error {
	job := pub.job
	perBatch, _ := job.Config.FilesPerBatch()
	var (
		seen int64
		cur  []contracts.Item
	)
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		mb := contracts.MiniBatch{Items: cur}
		cur = nil
		return pub.emit(mb)
	}
	errEnough := errors.New("enough")
	_, err := inputlist.List(ctx, input, &job.Config, func(o objstore.ObjectInfo) error {
		if seen == items {
			return errEnough
		}
		seen++
		p.cfg.Metrics.Listed(1)
		cur = append(cur, contracts.Item{Key: o.Key, Size: o.Size, ETag: o.ETag})
		if len(cur) == perBatch {
			return flush()
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		p.cfg.Logger.Warn("files were added to the input while the job was submitted; they are not part of it", "job", job.ID, "items", items)
		err = nil
	}
	if err == nil && seen < items {
		err = fmt.Errorf("%w: the input has %d files, %d when it was first listed", ErrChanged, seen, items)
	}
	if err != nil {
		return err
	}
	return flush()
}

// publisher publishes a job's mini-batches in order, with their index and
// message id, at most Config.Window awaiting their ack at once.
type publisher struct {
	p          *Producer
	ctx        context.Context
	job        *contracts.Job
	generation int
	index      int64
	pending    []jetstream.PubAckFuture
}

// emit publishes the next mini-batch, unless a resumed job has its outcome
// counted.
func (pub *publisher) emit(mb contracts.MiniBatch) error {
	p, l, ctx := pub.p, pub.p.cfg.Ledger, pub.ctx
	mb.JobID, mb.Index, mb.Generation = pub.job.ID, pub.index, pub.generation
	pub.index++
	if pub.generation > 0 {
		// A batch whose outcome was recorded and counted is done; one not
		// marked counted yet (its worker died before it could count it)
		// goes out again: the worker that takes it counts the recorded
		// outcome, without running the batch.
		o, _, done, err := l.Outcome(ctx, pub.job.ID, mb.Index)
		if err != nil {
			return err
		}
		if done && o.Counted {
			return nil
		}
	}
	data, _ := json.Marshal(mb)
	msg := nats.NewMsg(contracts.BatchSubject(pub.job.ID))
	msg.Data = data
	f, err := l.B.JS.PublishMsgAsync(msg, jetstream.WithMsgID(mb.MsgID(pub.generation)))
	if err != nil {
		return err
	}
	pub.pending = append(pub.pending, f)
	p.cfg.Metrics.Published(1)
	if len(pub.pending) >= p.cfg.Window {
		return pub.wait()
	}
	return nil
}

// wait waits for the acks of the messages published so far.
func (pub *publisher) wait() error {
	for _, f := range pub.pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-pub.ctx.Done():
			return pub.ctx.Err()
		}
	}
	pub.pending = pub.pending[:0]
	return nil
}
