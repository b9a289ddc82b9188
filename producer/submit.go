package producer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/redact"
	"github.com/parallelrun/prs/internal/tabular"
)

// submission is what Submit learns of a job, step by step.
type submission struct {
	id    string
	c     contracts.Config
	src   *source
	model *modelFiles
	// input and output are the job's stores, checked.
	input, output objstore.Store
	// existing is the job recorded under id already (a resume), with its state.
	existing      *contracts.Job
	existingState contracts.JobState
	// items is the number of input files at the first listing; fp the
	// job's fingerprint (script, settings and listing).
	items int64
	fp    string
}

// check validates the job's id and settings, then every place it touches
// (checkParts).
func (p *Producer) check(ctx context.Context, s *submission) error {
	if err := contracts.ValidateJobID(s.id); err != nil {
		return err
	}
	if err := s.c.Validate(); err != nil {
		return err
	}
	singleFileInput(ctx, p.cfg.Ledger.Stores, &s.c)
	return p.checkParts(ctx, s)
}

// checkParts checks every place a job of valid settings touches: the
// source folder, the model, the input, the output and the side inputs. It
// fills the settings' defaults that depend on them. Submit and Prepare
// (prs watch) check with it.
func (p *Producer) checkParts(ctx context.Context, s *submission) error {
	l, c := p.cfg.Ledger, &s.c
	if c.OutputFormat != "" && c.AppendRowFileName == contracts.DefaultConfig().AppendRowFileName {
		c.AppendRowFileName = strings.TrimSuffix(c.AppendRowFileName, ".txt") + "." + c.OutputFormat
	}
	var err error
	if s.src, err = resolveSource(c); err != nil {
		return err
	}
	if s.model, err = resolveModel(ctx, l.Stores, c); err != nil {
		return err
	}
	if p.cfg.Preflight != nil {
		if err := p.cfg.Preflight(ctx, c, Local{EntryScript: s.src.script, Model: s.model.modelPath}); err != nil {
			return err
		}
	}
	if err := p.checkInput(ctx, s); err != nil {
		return err
	}
	if err := p.checkOutput(ctx, s); err != nil {
		return err
	}
	for name, uri := range c.SideInputs {
		if err := checkSideInput(ctx, l.Stores, uri); err != nil {
			return &contracts.FieldError{Field: "side_inputs", Err: fmt.Errorf("%s (%s): %w", name, redact.URL(uri), err)}
		}
	}
	return nil
}

// checkInput opens the input and settles its format.
func (p *Producer) checkInput(ctx context.Context, s *submission) error {
	input, err := p.cfg.Ledger.Stores.Open(ctx, s.c.Input)
	if err != nil {
		return &contracts.FieldError{Field: "input", Err: err}
	}
	if err := objstore.Check(ctx, input, false); err != nil {
		return &contracts.FieldError{Field: "input", Err: err}
	}
	s.input = input
	return tabular.ResolveInputFormat(ctx, input, &s.c)
}

// checkOutput opens the output and checks its place.
func (p *Producer) checkOutput(ctx context.Context, s *submission) error {
	output, err := p.cfg.Ledger.Stores.Open(ctx, s.c.Output)
	if err != nil {
		return &contracts.FieldError{Field: "output", Err: err}
	}
	// Check only: a local output folder that does not exist yet is made by
	// the first write, after every check has passed.
	if err := objstore.Check(ctx, output, false); err != nil &&
		!(errors.Is(err, objstore.ErrBucketNotFound) && !strings.HasPrefix(s.c.Output, "s3://")) {
		return &contracts.FieldError{Field: "output", Err: err}
	}
	s.output = output
	return checkPlaces(&s.c, output)
}

// findExisting reads the job already recorded under the id: it is resumed,
// not replaced; one that failed or was cancelled is refused.
func (p *Producer) findExisting(ctx context.Context, s *submission) error {
	l := p.cfg.Ledger
	existing, err := l.Job(ctx, s.id)
	if err != nil && !errors.Is(err, broker.ErrNoJob) {
		return err
	}
	if existing == nil {
		return nil
	}
	st, _, err := l.State(ctx, s.id)
	if err != nil {
		return err
	}
	switch st.State {
	case contracts.StateFailed, contracts.StateCancelled:
		return fmt.Errorf("job %s: %w (%s: %s); submit it with a new job id", s.id, ErrJobEnded, st.State, st.Reason)
	}
	s.existing, s.existingState = existing, st
	return nil
}

// listInput lists the input a first time, to count and fingerprint it.
func (p *Producer) listInput(ctx context.Context, s *submission) error {
	items, listHash, err := p.fingerprintListing(ctx, s.input, &s.c)
	if err != nil {
		return &contracts.FieldError{Field: "input", Err: err}
	}
	if items == 0 {
		where := s.input.URI("")
		if len(s.c.Include) > 0 {
			where += fmt.Sprintf(" matching include %q", s.c.Include)
		}
		return &contracts.FieldError{Field: "input", Err: fmt.Errorf("%w: %s", ErrEmptyInput, where)}
	}
	srcHash, err := s.src.hash()
	if err != nil {
		return err
	}
	s.items = items
	s.fp = fingerprint(&s.c, s.src.key+"\x00"+srcHash+"\x00"+s.model.digest(), listHash)
	return nil
}

// planJob returns the job's record (the one recorded already for a
// resume, which must not have changed) and plans its tabular or
// partitioned mini-batches before anything is recorded: a file that cannot
// be cut is an error of the submit.
func (p *Producer) planJob(ctx context.Context, s *submission) (*contracts.Job, *plan, error) {
	job := s.existing
	if job == nil {
		job = &contracts.Job{
			ID: s.id, Config: s.c, Staging: StagingURI(s.c.Output, s.id),
			EntryScriptKey: s.src.key, Fingerprint: s.fp, SubmittedAt: time.Now().UTC(),
		}
	} else if job.Fingerprint != s.fp {
		return nil, nil, fmt.Errorf("job %s: %w: its script, settings or input listing changed since it was submitted; submit the new work with a new job id", s.id, ErrChanged)
	}
	staging, err := p.cfg.Ledger.Stores.Open(ctx, job.Staging)
	if err != nil {
		return nil, nil, err
	}
	pl, err := p.planBatches(ctx, &s.c, s.input, staging, s.existing == nil)
	if err != nil {
		return nil, nil, err
	}
	return job, pl, nil
}

// record records a new job (shipping its source folder and model first)
// with its totals, or starts a new publishing generation of an existing
// one; it returns the generation.
func (p *Producer) record(ctx context.Context, s *submission, job *contracts.Job, pl *plan) (int, error) {
	l, log := p.cfg.Ledger, p.cfg.Logger
	if s.existing != nil {
		generation, err := l.Resume(ctx, s.id)
		if err != nil {
			return 0, err
		}
		log.Info("resuming job", "job", s.id, "generation", generation)
		return generation, nil
	}
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		return 0, err
	}
	// A new job that fails before it is recorded leaves nothing staged.
	unstage := func() {
		if pl != nil && len(s.c.PartitionKeys) > 0 {
			deletePrefix(ctx, staging, partitionsPrefix+"/")
		}
	}
	totalBatches, totalItems := int64(0), s.items
	if pl != nil {
		totalBatches, totalItems = pl.batches, pl.items
	} else {
		perBatch, _ := s.c.FilesPerBatch()
		totalBatches = (s.items + int64(perBatch) - 1) / int64(perBatch)
	}
	if job.SourceFiles, err = s.src.upload(ctx, staging); err != nil {
		unstage()
		return 0, fmt.Errorf("shipping the source folder: %w", err)
	}
	if err := s.model.ship(ctx, staging, job); err != nil {
		unstage()
		return 0, err
	}
	if err := l.CreateJob(ctx, job, totalBatches, totalItems); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) { // not when another producer owns the job
			unstage()
		}
		return 0, err
	}
	log.Info("job submitted", "job", s.id, "input", s.c.Input, "files", s.items, "mini_batches", totalBatches, "mini_batch_size", s.c.MiniBatchSize)
	return 0, nil // a new job's first publishing generation
}

// publishJob publishes the job's mini-batches and finalises a resumed job
// whose batches had all ended.
func (p *Producer) publishJob(ctx context.Context, s *submission, job *contracts.Job, generation int, pl *plan) (*Submitted, error) {
	l := p.cfg.Ledger
	if err := p.publish(ctx, job, s.input, generation, s.items, pl); err != nil {
		if errors.Is(err, ErrChanged) {
			_, _ = l.Stop(ctx, s.id, contracts.StateFailed, err.Error())
		}
		return nil, fmt.Errorf("publishing the mini-batches of job %s: %w", s.id, err)
	}
	st, _, err := l.State(ctx, s.id)
	if err != nil {
		return nil, err
	}
	done, err := l.B.Counter(ctx, s.id, contracts.CounterDone)
	if err != nil {
		return nil, err
	}
	// Normally the worker of the last batch finalises; this covers a job
	// resumed after all of its batches had ended.
	if err := l.MaybeFinalize(ctx, job, done, nil); err != nil {
		return nil, err
	}
	p.cfg.Logger.Info("job published", "job", s.id, "mini_batches", st.TotalBatches, "items", st.TotalItems)
	return &Submitted{Job: job, State: st, Resumed: s.existing != nil}, nil
}
