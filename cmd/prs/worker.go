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
	name := fs.String("name", "", "worker name in outcomes and logs (default host-pid-random)")
	logFlush := fs.Duration("log-flush", 5*time.Second, "how often the worker puts its logs under each job's output/logs (what a dying worker may lose)")
	if _, code, ok := parse(fs, args, stderr); !ok {
		return code
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
		Stdout: stdout, Stderr: stderr, Metrics: wm, LogFlush: *logFlush,
	})
	if err == nil {
		err = w.Start(ctx)
	}
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	<-ctx.Done()
	log.Info("draining: finishing in-flight mini-batches", "timeout", *drain)
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := w.Stop(sctx); err != nil {
		log.Warn("drain timed out; in-flight mini-batches were sent back", "err", err)
	}
	return exitOK
}
