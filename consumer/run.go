package consumer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// run stages a batch's inputs, gives it to the slot's handler under
// run_invocation_timeout and returns what the handler returned; n learns
// the batch's items. The malformed rows of a tabular piece are added to the
// item errors; a piece without a well-formed row does not call the handler.
func (s *slot) run(jr *jobRun, mb contracts.MiniBatch, attempt int, n *Tally) (Result, error) {
	*n = Tally{Items: mb.ItemCount()}
	if err := s.openHandler(jr); err != nil {
		return Result{}, err
	}
	ctx, cancel := s.jobContext(jr)
	defer cancel()
	if err := s.init(ctx); err != nil {
		return Result{}, err
	}
	b, bad, cleanup, err := s.load(ctx, jr, mb, attempt, n)
	defer cleanup()
	if err != nil || b == nil {
		return Result{ItemErrors: bad}, err
	}
	res, err := s.invoke(ctx, jr, b)
	res.ItemErrors = append(bad, res.ItemErrors...)
	return res, err
}

// jobContext is the context of running a batch of jr: it ends with the
// worker or when the job stops.
func (s *slot) jobContext(jr *jobRun) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(s.w.ctx)
	stop := context.AfterFunc(jr.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// init readies the slot's handler. Init is a no-op while the handler is
// ready; after a timeout or a crash it starts the script again and runs
// init() outside run()'s timeout.
func (s *slot) init(ctx context.Context) error {
	start := time.Now()
	if err := s.handler.Init(ctx); err != nil {
		return asInitError(err)
	}
	if d := time.Since(start); d > time.Millisecond {
		s.w.cfg.Metrics.Init(d)
	}
	return nil
}

// load makes mb the Batch its handler runs: a tabular piece's well-formed
// rows (its malformed rows are returned as item errors, and the Batch is
// nil when none is well formed) or every file at a local path. cleanup
// frees what staging wrote; n learns the items.
func (s *slot) load(ctx context.Context, jr *jobRun, mb contracts.MiniBatch, attempt int, n *Tally) (b *Batch, bad []ItemError, cleanup func(), err error) {
	cleanup = func() {}
	b = &Batch{JobID: mb.JobID, Index: mb.Index, Attempt: attempt, Items: mb.Items, Partition: mb.Partition}
	if mb.Piece != nil {
		if bad, err = s.readPiece(ctx, jr, *mb.Piece, b, n); err != nil || b.Table.Rows == 0 {
			return nil, bad, cleanup, err
		}
		return b, bad, cleanup, nil
	}
	cleanup, err = s.stage(ctx, jr, b)
	if err != nil {
		return nil, nil, cleanup, err
	}
	return b, nil, cleanup, nil
}

// invoke runs b with the slot's handler, after init, under
// run_invocation_timeout (init() is not timed with it).
func (s *slot) invoke(ctx context.Context, jr *jobRun, b *Batch) (Result, error) {
	if err := s.init(ctx); err != nil {
		return Result{}, err
	}
	runCtx, cancelRun := context.WithTimeout(ctx, time.Duration(jr.job.Config.RunInvocationTimeout)*time.Second)
	defer cancelRun()
	res, err := s.handler.Run(runCtx, b)
	if err != nil && runCtx.Err() == context.DeadlineExceeded && ctx.Err() == nil && !errors.Is(err, ErrRunTimeout) {
		err = fmt.Errorf("%w: %w", ErrRunTimeout, err)
	}
	return res, err
}

// readPiece reads a tabular piece into b.Table and counts its rows in n;
// it returns the malformed rows as item errors.
func (s *slot) readPiece(ctx context.Context, jr *jobRun, p contracts.Piece, b *Batch, n *Tally) ([]ItemError, error) {
	store := jr.input
	if p.Staged {
		store = jr.staging
	}
	t, bad, items, err := ReadTable(ctx, store, p)
	if err != nil {
		return nil, err
	}
	b.Table = t
	n.Items, n.Malformed = items, len(bad)
	return bad, nil
}

// openHandler gives the slot a handler for jr's job, closing the one it
// kept for another job.
func (s *slot) openHandler(jr *jobRun) error {
	if s.hJob == jr {
		return nil
	}
	w := s.w
	s.closeHandler()
	env := &JobEnv{
		Job: jr.job, SourceDir: jr.source, EntryScript: jr.script, SideInputs: jr.side,
		Model: jr.model, Labels: jr.labels,
		WorkDir:   filepath.Join(jr.dir, "slots", strconv.Itoa(s.index)),
		OutputDir: filepath.Join(jr.dir, "output"),
		LogDir:    filepath.Join(jr.dir, "logs"),
		Worker:    w.cfg.Name, Slot: s.index,
	}
	s.out = jr.log.Load().lines(contracts.LogStdout(w.cfg.Host, w.cfg.Name), w.cfg.Stdout)
	s.errOut = jr.log.Load().lines(contracts.LogStderr(w.cfg.Host, w.cfg.Name), w.cfg.Stderr)
	env.Stdout, env.Stderr = s.out, s.errOut
	for _, d := range []string{env.WorkDir, env.OutputDir, env.LogDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return &TransientError{Err: err}
		}
	}
	jr.log.Load().watch(filepath.Join(env.LogDir, contracts.EntryScriptLogFile), contracts.LogEntryScript(w.cfg.Host, w.cfg.Name))
	f := w.cfg.Handlers[jr.job.Config.Handler]
	if f == nil {
		return &ScriptError{Type: "UnknownHandler", Message: fmt.Sprintf("this worker has no %q handler", jr.job.Config.Handler)}
	}
	h, err := f(jr.ctx, env)
	if err != nil {
		return asInitError(err)
	}
	s.handler, s.hJob = h, jr
	return nil
}

// stage gives every item a local path: the file itself for a local input,
// a downloaded copy otherwise.
func (s *slot) stage(ctx context.Context, jr *jobRun, b *Batch) (func(), error) {
	b.Paths = make([]string, len(b.Items))
	lp, local := jr.input.(objstore.LocalPather)
	dir := filepath.Join(jr.dir, "slots", strconv.Itoa(s.index), "batch")
	cleanup := func() { _ = os.RemoveAll(dir) }
	for i, it := range b.Items {
		if local {
			if p, ok := lp.LocalPath(it.Key); ok {
				b.Paths[i] = p
				continue
			}
		}
		// The key's folders are kept (scripts may read them), cleaned so
		// that a key with ".." stays inside dir.
		dst := filepath.Join(dir, strconv.Itoa(i), filepath.FromSlash(path.Clean("/"+it.Key)))
		if err := objstore.Download(ctx, jr.input, it.Key, dst); err != nil {
			if objstore.IsTransient(err) || ctx.Err() != nil {
				return cleanup, &TransientError{Err: err}
			}
			return cleanup, &ScriptError{Type: "InputError", Message: fmt.Sprintf("fetching %s: %v", jr.input.URI(it.Key), err)}
		}
		b.Paths[i] = dst
	}
	return cleanup, nil
}

func asInitError(err error) error {
	var ie *InitError
	if errors.As(err, &ie) {
		return err
	}
	return &InitError{Err: err}
}
