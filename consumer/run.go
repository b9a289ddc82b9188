package consumer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// run gives a batch to the slot's handler for jr's job, (re)starting the
// handler first when it needs it, and makes the attempt (RunBatch).
func (s *slot) run(jr *jobRun, mb contracts.MiniBatch, attempt int) (BatchRun, error) {
	run := BatchRun{Tally: Tally{Items: mb.ItemCount()}}
	if err := s.openHandler(jr); err != nil {
		return run, err
	}
	if err := s.freshOutput(jr); err != nil {
		return run, &TransientError{Err: err}
	}
	ctx, cancel := s.jobContext(jr)
	defer cancel()
	if err := s.init(ctx); err != nil {
		return run, err
	}
	run, err := RunBatch(ctx, s.handler, s.batchInput(jr), mb, attempt, runTimeout(jr))
	s.afterPanic(err, jr, mb.Index)
	return run, err
}

// afterPanic logs a recovered panic with its stack and drops the slot's
// handler, which may have been left in any state: the next attempt opens a
// new one.
func (s *slot) afterPanic(err error, jr *jobRun, index int64) {
	if logPanic(s.w.cfg.Logger, err, "job", jr.job.ID, "batch", index, "slot", s.index) {
		s.closeHandler()
	}
}

// batchInput is where the slot reads jr's mini-batches from, and its
// scratch folder for copies.
func (s *slot) batchInput(jr *jobRun) BatchInput {
	return BatchInput{
		Input: jr.input, Staging: jr.staging, PartitionKeys: jr.job.Config.PartitionKeys,
		Scratch: filepath.Join(jr.dir, "slots", strconv.Itoa(s.index), "batch"),
	}
}

// runTimeout is jr's run_invocation_timeout.
func runTimeout(jr *jobRun) time.Duration {
	return time.Duration(jr.job.Config.RunInvocationTimeout) * time.Second
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
	if err := s.handlerInit(ctx); err != nil {
		if logPanic(s.w.cfg.Logger, err, "slot", s.index) {
			s.closeHandler()
		}
		return asInitError(err)
	}
	if d := time.Since(start); d > time.Millisecond {
		s.w.cfg.Metrics.Init(d)
	}
	return nil
}

// handlerInit is the handler's Init; a panic of it is a *PanicError.
func (s *slot) handlerInit(ctx context.Context) (err error) {
	defer catchPanic("the handler's Init", &err)
	return s.handler.Init(ctx)
}

// invoke runs b, a part of an isolation, with the slot's handler: after
// init, under run_invocation_timeout (init() is not timed with it).
func (s *slot) invoke(ctx context.Context, jr *jobRun, b *Batch) (Result, error) {
	if err := s.openHandler(jr); err != nil { // a part that panicked dropped it
		return Result{}, err
	}
	if err := s.init(ctx); err != nil {
		return Result{}, err
	}
	res, err := runHandler(ctx, s.handler, b, runTimeout(jr))
	s.afterPanic(err, jr, b.Index)
	return res, err
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
		Job: jr.job, SourceDir: jr.source, EntryScript: jr.script, SideInputs: jr.side, Models: jr.models,
		Model: jr.model, Labels: jr.labels,
		WorkDir:   filepath.Join(jr.dir, "slots", strconv.Itoa(s.index)),
		OutputDir: s.outputDir(jr),
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

func asInitError(err error) error {
	var ie *InitError
	if errors.As(err, &ie) {
		return err
	}
	return &InitError{Err: err}
}
