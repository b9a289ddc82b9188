package producer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
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
// broker before every check has passed. Its steps are in submit.go.
func (p *Producer) Submit(ctx context.Context, jobID string, c contracts.Config) (*Submitted, error) {
	if jobID == "" {
		jobID = NewJobID()
	}
	s := &submission{id: jobID, c: c}
	if err := p.check(ctx, s); err != nil {
		return nil, err
	}
	if err := p.findExisting(ctx, s); err != nil {
		return nil, err
	}
	if err := p.listInput(ctx, s); err != nil {
		return nil, err
	}
	if s.existing != nil { // a resume must find what it promises (verify.go)
		if sub, err := p.checkResume(ctx, s.existing, s.existingState, &s.c, s.fp, s.items, s.output); err != nil || sub != nil {
			return sub, err
		}
	}

	// The job owns its output from here on (outputlock.go).
	hold, err := p.holdOutput(ctx, jobID, s.output)
	if err != nil {
		return nil, err
	}
	defer hold.end(ctx)

	if s.existing == nil && s.c.AllowReuse {
		if sub, err := p.reuse(ctx, jobID, &s.c, s.fp, s.output); err != nil || sub != nil {
			hold.reused(ctx, sub)
			return sub, err
		}
	}
	job, pl, err := p.planJob(ctx, s)
	if err != nil {
		return nil, err
	}
	defer pl.close()
	generation, err := p.record(ctx, s, job, pl)
	if err != nil {
		return nil, err
	}
	hold.keep(ctx)
	return p.publishJob(ctx, s, job, generation, pl)
}
