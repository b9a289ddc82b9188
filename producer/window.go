package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/objstore"
)

// ErrNotWatchable is returned by Prepare for a configuration whose
// mini-batches cannot be made one arriving file at a time.
var ErrNotWatchable = errors.New("prs watch scores file inputs one file at a time")

// Template is a checked job configuration from which prs watch opens the
// jobs of its windows, one by one, as files arrive.
type Template struct {
	// Config is the configuration, defaults applied; its Output is the
	// watch's output root.
	Config contracts.Config
	// Input is the input's store.
	Input objstore.Store
	src   *source
	model *modelFiles
}

// Prepare checks c once for a watch, as Submit checks a job, except that
// the input may be empty: its files arrive later. A tabular input and
// partition_keys are refused with ErrNotWatchable.
func (p *Producer) Prepare(ctx context.Context, c contracts.Config) (*Template, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch {
	case c.Tabular():
		return nil, &contracts.FieldError{Field: "input_format", Err: fmt.Errorf("%w: a tabular input is cut into pieces of whole files; watch a folder of files instead", ErrNotWatchable)}
	case len(c.PartitionKeys) > 0:
		return nil, &contracts.FieldError{Field: "partition_keys", Err: fmt.Errorf("%w: partition_keys groups a whole listing", ErrNotWatchable)}
	}
	s := &submission{c: c}
	if err := p.checkParts(ctx, s); err != nil {
		return nil, err
	}
	if s.c.Tabular() { // the input's files decided it
		return nil, &contracts.FieldError{Field: "input_format", Err: fmt.Errorf("%w: the input holds tabular files", ErrNotWatchable)}
	}
	return &Template{Config: s.c, Input: s.input, src: s.src, model: s.model}, nil
}

// JoinURI is uri with the relative path rel appended: with "/" for S3, as
// a local path otherwise.
func JoinURI(uri, rel string) string {
	if strings.HasPrefix(uri, "s3://") {
		return strings.TrimSuffix(uri, "/") + "/" + rel
	}
	return filepath.Join(strings.TrimPrefix(uri, "file://"), filepath.FromSlash(rel))
}

// OpenWindow records the job of a watch's window, open (not sealed: its
// mini-batches are published as its files arrive), writing to output with
// the template's source folder and model shipped to its staging. A job
// recorded already under jobID is returned as it is, so that a watch that
// died while opening a window opens it again safely.
func (p *Producer) OpenWindow(ctx context.Context, t *Template, jobID, output, watch string, window int64) (*contracts.Job, error) {
	l := p.cfg.Ledger
	if job, err := l.Job(ctx, jobID); err == nil {
		if _, _, err := l.State(ctx, jobID); err == nil {
			return job, nil
		}
	} else if !errors.Is(err, broker.ErrNoJob) {
		return nil, err
	}
	c := t.Config
	c.Output = output
	job := &contracts.Job{
		ID: jobID, Config: c, Staging: StagingURI(output, jobID), EntryScriptKey: t.src.key,
		SubmittedAt: time.Now().UTC(), Watch: watch, Window: window,
	}
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		return nil, err
	}
	if job.SourceFiles, err = t.src.upload(ctx, staging); err != nil {
		return nil, fmt.Errorf("window %d: shipping the source folder: %w", window, err)
	}
	if err := t.model.ship(ctx, staging, job); err != nil {
		return nil, fmt.Errorf("window %d: %w", window, err)
	}
	err = l.OpenJob(ctx, job)
	if errors.Is(err, jetstream.ErrKeyExists) {
		// Recorded by an earlier attempt that died before its state was:
		// the record holds; its state is written now.
		if job, err = l.Job(ctx, jobID); err != nil {
			return nil, err
		}
		err = l.OpenState(ctx, job)
	}
	if err != nil {
		return nil, err
	}
	p.cfg.Logger.Info("window opened", "watch", watch, "window", window, "job", jobID, "output", output)
	return job, nil
}

// PublishBatch publishes one mini-batch of an open job and waits for the
// broker's ack. Its message id is the batch's, so that publishing it again
// (a watch that died after publishing) is a duplicate the broker drops.
func (p *Producer) PublishBatch(ctx context.Context, mb contracts.MiniBatch) error {
	data, err := json.Marshal(mb)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(contracts.BatchSubject(mb.JobID))
	msg.Data = data
	if _, err := p.cfg.Ledger.B.JS.PublishMsg(ctx, msg, jetstream.WithMsgID(mb.MsgID(0))); err != nil {
		return fmt.Errorf("publishing batch %d of job %s: %w", mb.Index, mb.JobID, err)
	}
	p.cfg.Metrics.Published(1)
	return nil
}
