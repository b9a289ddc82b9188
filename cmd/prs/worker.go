package main

import (
	"context"
	"flag"
	"io"
	"time"

	"github.com/parallelrun/prs/consumer"
)

func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs worker", flag.ContinueOnError)
	cf := addCommon(fs)
	slots := fs.Int("slots", 1, "mini-batches run at once")
	workDir := fs.String("work-dir", "", "local folder for copies and scratch (default a temporary folder)")
	drain := fs.Duration("drain-timeout", 10*time.Minute, "on SIGTERM, how long in-flight batches may finish before they are stopped and sent back")
	idleExit := fs.Duration("idle-exit", 0, "exit 0 once no mini-batch has been available for this long, never while one runs (0: never; for KEDA ScaledJob, Nomad dispatch or cron)")
	name := fs.String("name", "", "worker name in outcomes and logs (default host-pid-random)")
	logFlush := fs.Duration("log-flush", 5*time.Second, "how often the worker puts its logs under each job's output/logs (what a dying worker may lose)")
	if _, code, ok := parse(fs, args, stderr); !ok {
		return code
	}
	if *drain < 0 || *idleExit < 0 {
		return fail(stderr, exitUsage, "--drain-timeout and --idle-exit must not be negative")
	}
	log := newLogger(stderr, *cf.logLevel, *cf.logFormat)
	f, err := cf.connect(ctx, log, false, "")
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer f.Close()
	if *name != "" {
		f.Ledger.Worker = *name
	}
	wm, _, err := cf.exporter(ctx, log)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	w, err := consumer.New(consumer.Config{
		Ledger: f.Ledger, Handlers: handlers(log), Slots: *slots, WorkDir: *workDir, Logger: log,
		Stdout: stdout, Stderr: stderr, Metrics: wm, LogFlush: *logFlush, IdleExit: *idleExit,
	})
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	select {
	case <-ctx.Done():
		log.Info("draining: finishing in-flight mini-batches", "timeout", *drain)
	case <-w.Idle():
		log.Info("idle: no mini-batch was available; exiting", "idle_exit", *idleExit)
	}
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		log.Warn("drain timed out; in-flight mini-batches were sent back", "err", err)
	}
	return exitOK
}
