// Package debugrun runs an entry script's init() and one mini-batch in the
// foreground, the way a worker slot would, so that a user can see what
// run() returns, what it counts as succeeded and failed, and any traceback,
// before a fleet runs the script.
package debugrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/entryscript"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/inputlist"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/resultfmt"
	"github.com/parallelrun/prs/internal/tabular"
)

// Config says what to debug.
type Config struct {
	// Job is the job configuration (entry script, input, arguments, side
	// inputs, interpreter, run_invocation_timeout).
	Job contracts.Config
	// Limit is the number of input files in the mini-batch (default
	// mini_batch_size).
	Limit int
	// Stores opens the input and the side inputs.
	Stores *ledger.Stores
	// Stdout and Stderr receive the script's own output, live.
	Stdout, Stderr io.Writer
}

// Report is what one debug run saw.
type Report struct {
	Items []string // the mini-batch's keys
	Rows  []byte   // the rows as the final file would hold them
	// Returned is the number of rows run() returned; Succeeded and Failed
	// count the items as a worker does (consumer.Tally): never more
	// succeeded than items.
	Returned  int
	Succeeded int
	Failed    int
	// Note says when run() returned another number of rows than items
	// (consumer.Tally.Note), "" otherwise.
	Note string
	// Count is the number of items: files, or a tabular mini-batch's rows.
	Count int
	// Partition is the mini-batch's partition_keys values (the first
	// group's), nil without partition_keys; Groups counts a file input's
	// groups.
	Partition contracts.PartitionValues
	Groups    int
	// Tabular is set when the mini-batch is a piece of a table (Items holds
	// its file).
	Tabular bool
	// RowErrors name the malformed rows of a tabular mini-batch (failed
	// items that run() never saw).
	RowErrors []string
	// Err is the script's failure (init or run), with its traceback in a
	// *consumer.ScriptError when there is one.
	Err      error
	InitTook time.Duration
	RunTook  time.Duration
}

// Run runs init() and one mini-batch. It returns an error for problems of
// the setup (bad configuration, unreadable input); the script's own failure
// is in Report.Err.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c := cfg.Job
	if c.Output == "" {
		c.Output = "-" // not used: debug writes nothing
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.SplitSingleFileInput()
	script, err := scriptPath(&c)
	if err != nil {
		return nil, err
	}
	if err := entryscript.CheckScript(ctx, c.Interpreter, script); err != nil {
		return nil, &contracts.FieldError{Field: "entry_script", Err: err}
	}
	input, err := cfg.Stores.Open(ctx, c.Input)
	if err != nil {
		return nil, &contracts.FieldError{Field: "input", Err: err}
	}
	if err := tabular.ResolveInputFormat(ctx, input, &c); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "prs-debug-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	first, err := firstBatch(ctx, &c, input, cfg.Limit, work)
	if err != nil {
		return nil, err
	}
	mb := first.mb
	h, err := handler(ctx, cfg, &c, script, work)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	rep := &Report{Count: mb.ItemCount(), Tabular: mb.Piece != nil, Partition: mb.PartitionContext(c.PartitionKeys), Groups: first.groups}
	for _, it := range mb.Items {
		rep.Items = append(rep.Items, it.Key)
	}
	if mb.Piece != nil && mb.Piece.Staged {
		rep.Items = []string{"the first partition_keys group"}
	}
	start := time.Now()
	if err := h.Init(ctx); err != nil {
		rep.Err, rep.InitTook = err, time.Since(start)
		rep.Failed = rep.Count
		return rep, nil
	}
	rep.InitTook = time.Since(start)
	// The worker's run path: stage or read the batch, run it under
	// run_invocation_timeout, tally.
	in := consumer.BatchInput{Input: input, Staging: first.staging, PartitionKeys: c.PartitionKeys, Scratch: filepath.Join(work, "input")}
	run, err := consumer.RunBatch(ctx, h, in, mb, 1, time.Duration(c.RunInvocationTimeout)*time.Second)
	if err != nil && !run.Ran {
		return nil, &contracts.FieldError{Field: "input", Err: err}
	}
	rep.RunTook, rep.Count = run.Took, run.Tally.Items
	for _, ie := range run.Result.ItemErrors {
		if ie.Index < 0 { // a malformed row, which run() never saw
			rep.RowErrors = append(rep.RowErrors, ie.Item+": "+ie.Err)
		}
	}
	if err != nil {
		rep.Err, rep.Failed = err, rep.Count
		return rep, nil
	}
	if rep.Rows, err = resultfmt.Body(resultfmt.Text, run.Result.Columns, run.Result.Rows); err != nil {
		rep.Err = err
	}
	t := run.Tally
	rep.Returned, rep.Succeeded, rep.Failed = t.Rows, t.Succeeded(), t.Failed()
	_, rep.Note = t.Note()
	return rep, nil
}

// handler starts the entry script's handler as a worker's slot would, with
// the job's side inputs and models fetched as a worker fetches them.
func handler(ctx context.Context, cfg Config, c *contracts.Config, script, work string) (consumer.Handler, error) {
	side := map[string]string{}
	for name, uri := range c.SideInputs {
		p, err := consumer.FetchSideInput(ctx, cfg.Stores, uri, filepath.Join(work, "side_inputs", name))
		if err != nil {
			return nil, &contracts.FieldError{Field: "side_inputs", Err: fmt.Errorf("%s: %w", name, err)}
		}
		side[name] = p
	}
	models, err := scriptModels(ctx, cfg.Stores, c.Models, filepath.Join(work, "models"))
	if err != nil {
		return nil, err
	}
	env := &consumer.JobEnv{
		Job: &contracts.Job{ID: "debug", Config: *c}, SourceDir: filepath.Dir(script), EntryScript: script,
		SideInputs: side, Models: models, WorkDir: filepath.Join(work, "work"), OutputDir: filepath.Join(work, "output"),
		LogDir: filepath.Join(work, "logs"), Worker: "debug", Stdout: cfg.Stdout, Stderr: cfg.Stderr,
	}
	for _, d := range []string{env.WorkDir, env.OutputDir, env.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	return entryscript.New(env, entryscript.Options{})
}

// scriptPath resolves the entry script against the source directory.
func scriptPath(c *contracts.Config) (string, error) {
	p := c.EntryScript
	if c.SourceDirectory != "" {
		p = filepath.Join(c.SourceDirectory, c.EntryScript)
	}
	if _, err := os.Stat(p); err != nil {
		return "", &contracts.FieldError{Field: "entry_script", Err: fmt.Errorf("%w: %v", contracts.ErrInvalid, err)}
	}
	return filepath.Abs(p)
}

// first is the mini-batch prs debug runs, with the store of a staged
// partition_keys group and the number of a file input's groups.
type first struct {
	mb      contracts.MiniBatch
	staging objstore.Store
	groups  int
}

// firstBatch plans the mini-batch prs debug runs: the first limit files
// (default mini_batch_size) of a file input, or the first piece of the
// first object of a tabular input (at most mini_batch_size). With
// partition_keys, it is the input's first group as the producer makes it
// (firstGroup, firstRowGroup), with the group's values; work holds what
// grouping rows stages.
func firstBatch(ctx context.Context, c *contracts.Config, input objstore.Store, limit int, work string) (first, error) {
	switch {
	case c.Tabular() && len(c.PartitionKeys) > 0:
		return firstRowGroup(ctx, c, input, work)
	case c.Tabular():
		mb, err := firstPiece(ctx, c, input)
		return first{mb: mb}, err
	case len(c.PartitionKeys) > 0:
		return firstGroup(ctx, c, input, limit)
	}
	mb := contracts.MiniBatch{JobID: "debug"}
	if limit <= 0 {
		limit, _ = c.FilesPerBatch()
	}
	errLimit := errors.New("limit")
	_, err := inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		if len(mb.Items) == limit {
			return errLimit
		}
		mb.Items = append(mb.Items, contracts.Item{Key: o.Key, Size: o.Size, ETag: o.ETag})
		return nil
	})
	if err != nil && !errors.Is(err, errLimit) {
		return first{}, &contracts.FieldError{Field: "input", Err: err}
	}
	if len(mb.Items) == 0 {
		return first{}, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no files in %s", input.URI(""))}
	}
	return first{mb: mb}, nil
}

// firstPiece plans the first piece of the first object of a tabular input
// (at most mini_batch_size).
func firstPiece(ctx context.Context, c *contracts.Config, input objstore.Store) (contracts.MiniBatch, error) {
	mb := contracts.MiniBatch{JobID: "debug"}
	size, _ := c.BytesPerBatch()
	explicit := c.InputFormat
	if strings.EqualFold(explicit, contracts.InputFormatAuto) {
		explicit = ""
	}
	errFound := errors.New("found")
	_, err := inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		f, err := tabular.DetectFormat(o.Key, explicit)
		if err != nil {
			return err
		}
		return tabular.Plan(ctx, tabular.Ranges(input), o, f, size, func(p tabular.Piece) error {
			mb.Piece = &p
			mb.Items = []contracts.Item{{Key: o.Key, Size: o.Size, ETag: o.ETag}}
			return errFound
		})
	})
	if err != nil && !errors.Is(err, errFound) {
		return mb, &contracts.FieldError{Field: "input", Err: err}
	}
	if mb.Piece == nil {
		return mb, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no rows in %s", input.URI(""))}
	}
	return mb, nil
}
