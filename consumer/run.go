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
	w := s.w
	run := BatchRun{Tally: Tally{Items: mb.ItemCount()}}
	if err := s.openHandler(jr); err != nil {
		return run, err
	}
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	stop := context.AfterFunc(jr.ctx, cancel)
	defer stop()
	// Init is a no-op while the handler is ready; after a timeout or a crash
	// it starts the script again and runs init() outside run()'s timeout.
	start := time.Now()
	if err := s.handler.Init(ctx); err != nil {
		return run, asInitError(err)
	}
	if d := time.Since(start); d > time.Millisecond {
		w.cfg.Metrics.Init(d)
	}
	in := BatchInput{Input: jr.input, Staging: jr.staging, Scratch: filepath.Join(jr.dir, "slots", strconv.Itoa(s.index), "batch")}
	return RunBatch(ctx, s.handler, in, mb, attempt, time.Duration(jr.job.Config.RunInvocationTimeout)*time.Second)
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

func asInitError(err error) error {
	var ie *InitError
	if errors.As(err, &ie) {
		return err
	}
	return &InitError{Err: err}
}
