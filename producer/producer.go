package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/redact"
	"github.com/parallelrun/prs/internal/tabular"
)

// Config configures a Producer.
type Config struct {
	// Ledger records the job (required).
	Ledger *ledger.Ledger
	// Preflight checks handler-specific settings before anything is written,
	// such as the entry script's syntax or the model's inputs (default none).
	Preflight func(ctx context.Context, c *contracts.Config, local Local) error
	// Window is the number of publishes awaiting their ack at once (default 256).
	Window int
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives what the producer does (default none).
	Metrics Metrics
}

// Metrics receives what a producer does, so that an exporter stays at the
// edge. Methods must be cheap and safe for concurrent use.
type Metrics interface {
	// Listed counts input objects listed for publishing.
	Listed(n int)
	// Published counts mini-batch messages published.
	Published(n int)
}

type noMetrics struct{}

func (noMetrics) Listed(int)    {}
func (noMetrics) Published(int) {}

// Local names the local files of a job that Preflight may check.
type Local struct {
	// EntryScript is the entry script's path ("" for other handlers).
	EntryScript string
	// Model is handler onnx's model file when it is local ("" otherwise).
	Model string
}

// Producer submits jobs.
type Producer struct{ cfg Config }

// New validates cfg.
func New(cfg Config) (*Producer, error) {
	if cfg.Ledger == nil {
		return nil, errors.New("producer: Config.Ledger is required")
	}
	if cfg.Window <= 0 {
		cfg.Window = 256
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = noMetrics{}
	}
	return &Producer{cfg: cfg}, nil
}

// Submitted tells what Submit did.
type Submitted struct {
	Job   *contracts.Job
	State contracts.JobState
	// Reused is set when a completed identical job's output was returned.
	Reused bool
	// Resumed is set when the job id was known and the job was picked up again.
	Resumed bool
}

// Errors of Submit that callers may want to tell apart.
var (
	ErrEmptyInput = errors.New("the input has no files")
	ErrJobEnded   = ledger.ErrJobEnded
	ErrChanged    = errors.New("the input or the job changed")
)

// NewJobID returns a fresh job id.
func NewJobID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "job-" + time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// StagingURI is where a job keeps its own objects, under its output.
func StagingURI(output, jobID string) string {
	if strings.HasPrefix(output, "s3://") {
		return strings.TrimSuffix(output, "/") + "/.prs/" + jobID
	}
	return filepath.Join(strings.TrimPrefix(output, "file://"), ".prs", jobID)
}

// Submit validates c, then records and publishes the job (or resumes it, or
// reuses an identical completed job). Nothing is written to the output or the
// broker before every check has passed.
func (p *Producer) Submit(ctx context.Context, jobID string, c contracts.Config) (*Submitted, error) {
	l, log := p.cfg.Ledger, p.cfg.Logger
	if jobID == "" {
		jobID = NewJobID()
	}
	if err := contracts.ValidateJobID(jobID); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	singleFileInput(ctx, l.Stores, &c)
	if c.OutputFormat != "" && c.AppendRowFileName == contracts.DefaultConfig().AppendRowFileName {
		c.AppendRowFileName = strings.TrimSuffix(c.AppendRowFileName, ".txt") + "." + c.OutputFormat
	}
	src, err := resolveSource(&c)
	if err != nil {
		return nil, err
	}
	model, err := resolveModel(ctx, l.Stores, &c)
	if err != nil {
		return nil, err
	}
	if p.cfg.Preflight != nil {
		if err := p.cfg.Preflight(ctx, &c, Local{EntryScript: src.script, Model: model.modelPath}); err != nil {
			return nil, err
		}
	}
	input, err := l.Stores.Open(ctx, c.Input)
	if err != nil {
		return nil, &contracts.FieldError{Field: "input", Err: err}
	}
	if err := objstore.Check(ctx, input, false); err != nil {
		return nil, &contracts.FieldError{Field: "input", Err: err}
	}
	if err := tabular.ResolveInputFormat(ctx, input, &c); err != nil {
		return nil, err
	}
	output, err := l.Stores.Open(ctx, c.Output)
	if err != nil {
		return nil, &contracts.FieldError{Field: "output", Err: err}
	}
	// Check only: a local output folder that does not exist yet is made by
	// the first write, after every check has passed.
	if err := objstore.Check(ctx, output, false); err != nil &&
		!(errors.Is(err, objstore.ErrBucketNotFound) && !strings.HasPrefix(c.Output, "s3://")) {
		return nil, &contracts.FieldError{Field: "output", Err: err}
	}
	if err := checkPlaces(&c, output); err != nil {
		return nil, err
	}
	for name, uri := range c.SideInputs {
		if err := checkSideInput(ctx, l.Stores, uri); err != nil {
			return nil, &contracts.FieldError{Field: "side_inputs", Err: fmt.Errorf("%s (%s): %w", name, redact.URL(uri), err)}
		}
	}

	// An existing job with this id is resumed, not replaced.
	existing, err := l.Job(ctx, jobID)
	if err != nil && !errors.Is(err, broker.ErrNoJob) {
		return nil, err
	}
	var existingState contracts.JobState
	if existing != nil {
		st, _, err := l.State(ctx, jobID)
		if err != nil {
			return nil, err
		}
		existingState = st
		switch st.State {
		case contracts.StateFailed, contracts.StateCancelled:
			return nil, fmt.Errorf("job %s: %w (%s: %s); submit it with a new job id", jobID, ErrJobEnded, st.State, st.Reason)
		}
	}

	items, listHash, err := p.fingerprintListing(ctx, input, &c)
	if err != nil {
		return nil, &contracts.FieldError{Field: "input", Err: err}
	}
	if items == 0 {
		where := input.URI("")
		if len(c.Include) > 0 {
			where += fmt.Sprintf(" matching include %q", c.Include)
		}
		return nil, &contracts.FieldError{Field: "input", Err: fmt.Errorf("%w: %s", ErrEmptyInput, where)}
	}
	srcHash, err := src.hash()
	if err != nil {
		return nil, err
	}
	fp := fingerprint(&c, src.key+"\x00"+srcHash+"\x00"+model.digest(), listHash)
	if existing != nil { // a resume must find what it promises (verify.go)
		if sub, err := p.checkResume(ctx, existing, existingState, &c, fp, items, output); err != nil || sub != nil {
			return sub, err
		}
	}

	// The job owns its output from here on (outputlock.go).
	hold, err := p.holdOutput(ctx, jobID, output)
	if err != nil {
		return nil, err
	}
	defer hold.end(ctx)

	if existing == nil && c.AllowReuse {
		if sub, err := p.reuse(ctx, jobID, &c, fp, output); err != nil || sub != nil {
			hold.reused(ctx, sub)
			return sub, err
		}
	}

	job := existing
	generation := 0
	if job == nil {
		job = &contracts.Job{
			ID: jobID, Config: c, Staging: StagingURI(c.Output, jobID),
			EntryScriptKey: src.key, Fingerprint: fp, SubmittedAt: time.Now().UTC(),
		}
	} else if existing.Fingerprint != fp {
		return nil, fmt.Errorf("job %s: %w: its script, settings or input listing changed since it was submitted; submit the new work with a new job id", jobID, ErrChanged)
	}
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		return nil, err
	}
	// Tabular and partitioned inputs are planned before anything is
	// recorded: a file that cannot be cut is an error of the submit.
	pl, err := p.planBatches(ctx, &c, input, staging, existing == nil)
	if err != nil {
		return nil, err
	}
	defer pl.close()
	// A new job that fails before it is recorded leaves nothing staged.
	unstage := func() {
		if pl != nil && len(c.PartitionKeys) > 0 {
			deletePrefix(ctx, staging, partitionsPrefix+"/")
		}
	}
	totalBatches, totalItems := int64(0), items
	if pl != nil {
		totalBatches, totalItems = pl.batches, pl.items
	} else {
		perBatch, _ := c.FilesPerBatch()
		totalBatches = (items + int64(perBatch) - 1) / int64(perBatch)
	}

	if existing == nil {
		if job.SourceFiles, err = src.upload(ctx, staging); err != nil {
			unstage()
			return nil, fmt.Errorf("shipping the source folder: %w", err)
		}
		if err := model.ship(ctx, staging, job); err != nil {
			unstage()
			return nil, err
		}
		if err := l.CreateJob(ctx, job, totalBatches, totalItems); err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) { // not when another producer owns the job
				unstage()
			}
			return nil, err
		}
		log.Info("job submitted", "job", jobID, "input", c.Input, "files", items, "mini_batches", totalBatches, "mini_batch_size", c.MiniBatchSize)
	} else {
		if generation, err = l.Resume(ctx, jobID); err != nil {
			return nil, err
		}
		log.Info("resuming job", "job", jobID, "generation", generation)
	}
	hold.keep(ctx)

	if err := p.publish(ctx, job, input, generation, items, pl); err != nil {
		if errors.Is(err, ErrChanged) {
			_, _ = l.Stop(ctx, jobID, contracts.StateFailed, err.Error())
		}
		return nil, fmt.Errorf("publishing the mini-batches of job %s: %w", jobID, err)
	}
	st, _, err := l.State(ctx, jobID)
	if err != nil {
		return nil, err
	}
	done, err := l.B.Counter(ctx, jobID, contracts.CounterDone)
	if err != nil {
		return nil, err
	}
	// Normally the worker of the last batch finalises; this covers a job
	// resumed after all of its batches had ended.
	if err := l.MaybeFinalize(ctx, job, done, nil); err != nil {
		return nil, err
	}
	log.Info("job published", "job", jobID, "mini_batches", st.TotalBatches, "items", st.TotalItems)
	return &Submitted{Job: job, State: st, Resumed: existing != nil}, nil
}

// publish lists the input and publishes its first items included files as
// mini-batches under the given generation. From the second generation on,
// mini-batches that already have an outcome are not published again (an
// outcome whose counting was cut short is counted here).
func (p *Producer) publish(ctx context.Context, job *contracts.Job, input objstore.Store, generation int, items int64, pl *plan) error {
	js, l := p.cfg.Ledger.B.JS, p.cfg.Ledger
	var (
		index, seen int64
		cur         []contracts.Item
		pending     []jetstream.PubAckFuture
	)
	wait := func() error {
		for _, f := range pending {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	emit := func(mb contracts.MiniBatch) error {
		mb.JobID, mb.Index, mb.Generation = job.ID, index, generation
		index++
		if generation > 0 {
			o, rev, done, err := l.Outcome(ctx, job.ID, mb.Index)
			if err != nil {
				return err
			}
			if done {
				if !o.Counted {
					_, err = l.Count(ctx, job, o, rev)
				}
				return err
			}
		}
		data, _ := json.Marshal(mb)
		msg := nats.NewMsg(contracts.BatchSubject(job.ID))
		msg.Data = data
		f, err := js.PublishMsgAsync(msg, jetstream.WithMsgID(mb.MsgID(generation)))
		if err != nil {
			return err
		}
		pending = append(pending, f)
		p.cfg.Metrics.Published(1)
		if len(pending) >= p.cfg.Window {
			return wait()
		}
		return nil
	}
	if pl != nil {
		if err := pl.each(emit); err != nil {
			return err
		}
		p.cfg.Metrics.Listed(int(items))
		return wait()
	}
	perBatch, _ := job.Config.FilesPerBatch()
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		mb := contracts.MiniBatch{Items: cur}
		cur = nil
		return emit(mb)
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
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = wait()
	}
	return err
}
