package entryscript

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// datasetName is the name of mini_batch_context.dataset: prs's key of the
// job's one input.
const datasetName = "input"

// ErrClosed is returned by Init and Run after Close.
var ErrClosed = errors.New("entryscript: handler is closed")

// handler runs one job's entry script in one long-lived process.
type handler struct {
	opts    Options
	log     *slog.Logger
	script  string // absolute path of the entry script
	shimDir string // private folder of the shim; "" for other interpreters
	cmd     command

	// tabular tells init that run() receives DataFrames (pandas is needed).
	tabular bool
	// dataset is mini_batch_context.dataset (nil without a job).
	dataset *wireDataset
	// maxLine bounds a response line: the job's run_result_max_size.
	maxLine int64
	// outputFormat tells init how run()'s rows are written (protocol's
	// output_format).
	outputFormat string

	mu     sync.Mutex
	proc   *process // nil until init() succeeded, and again once the process is gone
	closed bool
}

// Factory returns a consumer.HandlerFactory that builds handlers with New.
func Factory(opts Options) consumer.HandlerFactory {
	return func(ctx context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return New(env, opts)
	}
}

// New returns the handler of env's entry script. It checks the settings and
// writes the shim, but starts nothing: the process starts on Init, or on the
// first Run.
//
// Init is cheap once init() has succeeded in a live process, so a runtime
// may call it before every Run to give a restarted script's init() the whole
// of InitTimeout; Run otherwise starts the process and calls init() itself,
// within its own context.
//
// Init, Run and Close are serialized: Close waits for a Run in progress, so
// end that Run's context first.
func New(env *consumer.JobEnv, opts Options) (consumer.Handler, error) {
	if env == nil {
		return nil, errors.New("entryscript: no JobEnv")
	}
	var (
		jobInterpreter string
		arguments      []string
	)
	if env.Job != nil {
		jobInterpreter, arguments = env.Job.Config.Interpreter, env.Job.Config.Arguments
	}
	opts, err := opts.withDefaults(jobInterpreter)
	if err != nil {
		return nil, err
	}
	if env.EntryScript == "" {
		return nil, errors.New("entryscript: JobEnv.EntryScript is empty")
	}
	script, err := filepath.Abs(env.EntryScript)
	if err != nil {
		return nil, fmt.Errorf("entryscript: entry script %s: %w", env.EntryScript, err)
	}
	args, err := expandArguments(arguments, env.SideInputs)
	if err != nil {
		return nil, fmt.Errorf("entryscript: %w", err)
	}
	interpreter, err := exec.LookPath(opts.Interpreter)
	if err != nil {
		return nil, fmt.Errorf("entryscript: interpreter %q: %w", opts.Interpreter, err)
	}

	h := &handler{opts: opts, script: script, outputFormat: "text"}
	if env.Job != nil {
		h.tabular = env.Job.Config.Tabular()
		if f := env.Job.Config.OutputFormat; f != "" {
			h.outputFormat = f
		}
		h.dataset = &wireDataset{Name: datasetName, URI: env.Job.Config.Input}
		if h.maxLine, err = env.Job.Config.RunResultMaxBytes(); err != nil {
			return nil, fmt.Errorf("entryscript: %w", err)
		}
	}
	argv := []string{interpreter}
	if isPython(opts.Interpreter) {
		if h.shimDir, err = writeShim(); err != nil {
			return nil, fmt.Errorf("entryscript: write the shim: %w", err)
		}
		argv = append(argv, "-u", filepath.Join(h.shimDir, shimName))
	}
	argv = append(append(argv, script), args...)
	h.cmd = command{
		path:    interpreter,
		args:    argv,
		dir:     env.WorkDir,
		env:     environment(env, h.shimDir, script),
		stdout:  env.Stdout,
		stderr:  env.Stderr,
		maxLine: h.maxLine,
	}
	h.log = opts.Logger.With("entry_script", script, "worker", env.Worker, "slot", env.Slot)
	if env.Job != nil {
		h.log = h.log.With("job", env.Job.ID)
	}
	return h, nil
}

// Init starts the script's process and calls its init(), unless a live
// process has done so already. An error of the script (it cannot be
// imported, defines no run(), init() raises, takes longer than InitTimeout or
// the process dies) is a *consumer.InitError; the process is then gone and
// the next Init or Run starts a new one.
func (h *handler) Init(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	return h.ensure(ctx, false)
}

// ensure makes h.proc a live process whose init() succeeded. inRun tells
// that ctx is Run's, whose deadline is the run timeout.
func (h *handler) ensure(ctx context.Context, inRun bool) error {
	if h.proc != nil {
		return nil
	}
	begin := time.Now()
	ictx, cancel := context.WithTimeout(ctx, h.opts.InitTimeout)
	defer cancel()
	p, err := start(h.cmd)
	if err != nil {
		return &consumer.InitError{Err: fmt.Errorf("start %s: %w", h.cmd.path, err)}
	}
	h.log.Debug("entry script process started", "pid", p.pid)
	resp, err := p.call(ictx, &request{Op: opInit, Tabular: h.tabular, OutputFormat: h.outputFormat})
	switch {
	case err == nil && resp.OK:
		h.proc = p
		h.log.Debug("init() done", "pid", p.pid, "took", time.Since(begin))
		return nil
	case err == nil:
		// A fresh process for the next try: a failed init() may have left
		// the module half set up.
		p.stop(h.opts.ShutdownTimeout)
		return &consumer.InitError{Err: resp.scriptError()}
	case errors.Is(err, errExited):
		p.awaitExit()
		p.abort()
		return &consumer.InitError{Err: p.crash("init()")}
	case ictx.Err() != nil:
		p.abort()
		if errors.Is(ctx.Err(), context.Canceled) {
			return fmt.Errorf("entryscript: init() of %s interrupted: %w", h.script, ctx.Err())
		}
		se := &consumer.ScriptError{
			Type:    "Timeout",
			Message: fmt.Sprintf("init() did not return within %s; the script and every process it started were killed", time.Since(begin).Round(100*time.Millisecond)),
		}
		h.log.Warn("init() timed out", "pid", p.pid)
		if inRun && ctx.Err() != nil {
			return &consumer.InitError{Err: fmt.Errorf("%w: %w", consumer.ErrRunTimeout, se)}
		}
		return &consumer.InitError{Err: se}
	default: // a broken response
		p.abort()
		return &consumer.InitError{Err: err}
	}
}

// Run calls the script's run() with the batch's local paths, starting the
// process and calling init() first when no live process has. Its rows are
// the elements run() returned: for the default text output each one's
// str() as a JSON string, as ParallelRunStep writes them; for the other
// output formats each one as a JSON value; for a DataFrame one JSON array
// of values per row.
//
// An exception in run() is a *consumer.ScriptError, and the process stays.
// When ctx ends first, the script and every process it started are
// killed, and the error wraps
// consumer.ErrRunTimeout and a ScriptError of type "Timeout" (ctx's deadline
// passed) or ctx's error (ctx was canceled). A process that dies gives a
// ScriptError of type "Crash" with its exit status and last stderr lines.
// After either, the next Run starts a new process and calls init() again.
func (h *handler) Run(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
	called := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return consumer.Result{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return consumer.Result{}, h.interrupted(ctx, called, false)
	}
	if err := h.ensure(ctx, true); err != nil {
		return consumer.Result{}, err
	}
	req := &request{Op: opRun, Batch: &batchRef{JobID: b.JobID, Index: b.Index, Attempt: b.Attempt}, MiniBatch: make([]contracts.Name, len(b.Paths))} // never nil: "mini_batch":[] for none
	for i, p := range b.Paths {
		req.MiniBatch[i] = contracts.Name(absOrEmpty(p)) // the script's working directory is not ours
	}
	req.Context = &runContext{PartitionKeyValue: b.Partition.Object(), Dataset: h.dataset, MinibatchIndex: b.Index}
	if t := b.Table; t != nil {
		req.Table = &wireTable{Format: "records", Columns: t.Columns, FirstIndex: t.FirstIndex}
		if t.Format == "csv" {
			req.Table.Format, req.Table.CSV = "csv", contracts.Name(t.CSV)
		} else {
			req.Table.Records = t.Records
		}
	}

	p := h.proc
	resp, err := p.call(ctx, req)
	if err != nil {
		h.proc = nil
		switch {
		case errors.Is(err, errExited):
			p.awaitExit()
			p.abort()
			h.log.Warn("entry script process died in run()", "pid", p.pid, "batch", b.Index, "status", p.status)
			return consumer.Result{}, p.crash("run()")
		case ctx.Err() != nil:
			p.abort()
			h.log.Warn("run() interrupted: the script and its processes killed", "pid", p.pid, "batch", b.Index, "err", ctx.Err())
			return consumer.Result{}, h.interrupted(ctx, called, true)
		default:
			p.abort()
			return consumer.Result{}, err
		}
	}
	if !resp.OK {
		return consumer.Result{}, resp.scriptError()
	}
	rows, err := resp.compactRows()
	if err != nil {
		h.proc = nil
		p.abort()
		return consumer.Result{}, protocolError("run response: %v", err)
	}
	if resp.Columns != nil {
		for i, r := range rows {
			if len(r) == 0 || r[0] != '[' {
				return consumer.Result{}, protocolError("run response: row %d of a DataFrame is not an array", i)
			}
		}
	}
	return consumer.Result{Rows: rows, Columns: resp.Columns}, nil
}

// interrupted is Run's error once ctx has ended; killed tells that the
// script's processes were killed for it.
func (h *handler) interrupted(ctx context.Context, called time.Time, killed bool) error {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("entryscript: run() of %s interrupted: %w", h.script, ctx.Err())
	}
	limit := "its deadline"
	if d, ok := ctx.Deadline(); ok {
		limit = d.Sub(called).Round(100 * time.Millisecond).String()
	}
	msg := fmt.Sprintf("run() did not return within %s", limit)
	if killed {
		msg += "; the script and every process it started were killed"
	}
	return fmt.Errorf("%w: %w", consumer.ErrRunTimeout, &consumer.ScriptError{Type: "Timeout", Message: msg})
}

// Close calls the script's shutdown(), when it has one, and waits for the
// process to exit, all within ShutdownTimeout; then it kills the script
// and every process it started, and removes the shim. It returns shutdown()'s exception, if any.
func (h *handler) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var err error
	if p := h.proc; p != nil {
		h.proc = nil
		err = h.shutdown(p)
	}
	if h.shimDir != "" {
		if rerr := os.RemoveAll(h.shimDir); rerr != nil && err == nil {
			err = fmt.Errorf("entryscript: remove the shim: %w", rerr)
		}
	}
	return err
}

func (h *handler) shutdown(p *process) error {
	deadline := time.Now().Add(h.opts.ShutdownTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	resp, err := p.call(ctx, &request{Op: opShutdown})
	p.stop(time.Until(deadline))
	switch {
	case err == nil && resp.OK:
		return nil
	case err == nil:
		return fmt.Errorf("entryscript: shutdown() of %s: %w", h.script, resp.scriptError())
	case errors.Is(err, errExited):
		return fmt.Errorf("entryscript: shutdown() of %s: %w", h.script, p.crash("shutdown()"))
	case ctx.Err() != nil:
		h.log.Warn("shutdown() timed out: the script and its processes killed", "pid", p.pid)
		return fmt.Errorf("entryscript: shutdown() of %s: %w", h.script, &consumer.ScriptError{
			Type:    "Timeout",
			Message: fmt.Sprintf("shutdown() did not return within %s; the script and every process it started were killed", h.opts.ShutdownTimeout),
		})
	default:
		return fmt.Errorf("entryscript: shutdown() of %s: %w", h.script, err)
	}
}
