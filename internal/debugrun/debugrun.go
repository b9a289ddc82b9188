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
	limit := cfg.Limit
	if limit <= 0 {
		limit, _ = c.FilesPerBatch()
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

	rep := &Report{}
	batch := &consumer.Batch{JobID: "debug", Attempt: 1}
	items, malformed := 0, 0
	if c.Tabular() {
		var bad []consumer.ItemError
		if items, bad, err = firstPiece(ctx, &c, input, batch); err != nil {
			return nil, err
		}
		malformed = len(bad)
		for _, b := range bad {
			rep.RowErrors = append(rep.RowErrors, b.Item+": "+b.Err)
		}
		rep.Items = []string{batch.Items[0].Key}
	} else {
		errLimit := errors.New("limit")
		_, err = inputlist.List(ctx, input, &c, func(o objstore.ObjectInfo) error {
			if len(batch.Items) == limit {
				return errLimit
			}
			p, err := localCopy(ctx, input, o.Key, filepath.Join(work, "input", fmt.Sprint(len(batch.Items))))
			if err != nil {
				return err
			}
			batch.Items = append(batch.Items, contracts.Item{Key: o.Key, Size: o.Size, ETag: o.ETag})
			batch.Paths = append(batch.Paths, p)
			rep.Items = append(rep.Items, o.Key)
			return nil
		})
		if err != nil && !errors.Is(err, errLimit) {
			return nil, &contracts.FieldError{Field: "input", Err: err}
		}
		if len(batch.Items) == 0 {
			return nil, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no files in %s", input.URI(""))}
		}
		items = len(batch.Items)
	}
	rep.Count, rep.Tabular = items, batch.Table != nil
	side := map[string]string{}
	for name, uri := range c.SideInputs {
		p, err := sideInput(ctx, cfg.Stores, uri, filepath.Join(work, "side_inputs", name))
		if err != nil {
			return nil, &contracts.FieldError{Field: "side_inputs", Err: fmt.Errorf("%s: %w", name, err)}
		}
		side[name] = p
	}
	env := &consumer.JobEnv{
		Job: &contracts.Job{ID: "debug", Config: c}, SourceDir: filepath.Dir(script), EntryScript: script,
		SideInputs: side, WorkDir: filepath.Join(work, "work"), OutputDir: filepath.Join(work, "output"),
		LogDir: filepath.Join(work, "logs"), Worker: "debug", Stdout: cfg.Stdout, Stderr: cfg.Stderr,
	}
	for _, d := range []string{env.WorkDir, env.OutputDir, env.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	h, err := entryscript.New(env, entryscript.Options{})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	start := time.Now()
	if err := h.Init(ctx); err != nil {
		rep.Err, rep.InitTook = err, time.Since(start)
		rep.Failed = items
		return rep, nil
	}
	rep.InitTook = time.Since(start)
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(c.RunInvocationTimeout)*time.Second)
	defer cancel()
	start = time.Now()
	if batch.Table != nil && batch.Table.Rows == 0 {
		rep.Failed = items // no well-formed row: run() is not called
		return rep, nil
	}
	res, err := h.Run(runCtx, batch)
	rep.RunTook = time.Since(start)
	if err != nil {
		if runCtx.Err() == context.DeadlineExceeded && !errors.Is(err, consumer.ErrRunTimeout) {
			err = fmt.Errorf("%w: %w", consumer.ErrRunTimeout, err)
		}
		rep.Err, rep.Failed = err, items
		return rep, nil
	}
	if rep.Rows, err = resultfmt.Body(resultfmt.Text, res.Columns, res.Rows); err != nil {
		rep.Err = err
	}
	t := consumer.Tally{Items: items, Malformed: malformed, Rows: len(res.Rows)}
	rep.Returned, rep.Succeeded, rep.Failed = t.Rows, t.Succeeded(), t.Failed()
	_, rep.Note = t.Note()
	return rep, nil
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

// localCopy returns a local path of an input object, downloading it when
// the store is not a local folder.
func localCopy(ctx context.Context, s objstore.Store, key, dir string) (string, error) {
	if lp, ok := s.(objstore.LocalPather); ok {
		if p, ok := lp.LocalPath(key); ok {
			return p, nil
		}
	}
	dst := filepath.Join(dir, filepath.Base(key))
	return dst, objstore.Download(ctx, s, key, dst)
}

func sideInput(ctx context.Context, stores *ledger.Stores, uri, dir string) (string, error) {
	if _, err := os.Stat(uri); err == nil {
		return filepath.Abs(uri)
	}
	i := len(uri) - len(filepath.Base(uri))
	s, err := stores.Open(ctx, uri[:max(i-1, 0)])
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, filepath.Base(uri))
	return dst, objstore.Download(ctx, s, filepath.Base(uri), dst)
}

// firstPiece reads the first piece of the first object of a tabular input
// (at most mini_batch_size) into batch.
func firstPiece(ctx context.Context, c *contracts.Config, input objstore.Store, batch *consumer.Batch) (int, []consumer.ItemError, error) {
	size, _ := c.BytesPerBatch()
	explicit := c.InputFormat
	if strings.EqualFold(explicit, contracts.InputFormatAuto) {
		explicit = ""
	}
	errFound := errors.New("found")
	var piece *tabular.Piece
	_, err := inputlist.List(ctx, input, c, func(o objstore.ObjectInfo) error {
		f, err := tabular.DetectFormat(o.Key, explicit)
		if err != nil {
			return err
		}
		err = tabular.Plan(ctx, tabular.Ranges(input), o, f, size, func(p tabular.Piece) error {
			piece = &p
			batch.Items = []contracts.Item{{Key: o.Key, Size: o.Size, ETag: o.ETag}}
			return errFound
		})
		return err
	})
	if err != nil && !errors.Is(err, errFound) {
		return 0, nil, &contracts.FieldError{Field: "input", Err: err}
	}
	if piece == nil {
		return 0, nil, &contracts.FieldError{Field: "input", Err: fmt.Errorf("no rows in %s", input.URI(""))}
	}
	t, bad, n, err := consumer.ReadTable(ctx, input, *piece)
	if err != nil {
		return 0, nil, &contracts.FieldError{Field: "input", Err: err}
	}
	batch.Table = t
	return n, bad, nil
}
