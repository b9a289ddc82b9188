package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs logs", flag.ContinueOnError)
	cf := addCommon(fs)
	worker := fs.String("worker", "", "show this worker's files (a part of its name is enough): node log, stdout, stderr, EntryScript log, tracebacks")
	followFlag := fs.Bool("follow", false, "keep showing what is added until the job ends")
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	if len(rest) != 1 {
		return fail(stderr, exitUsage, "logs takes one job id")
	}
	id := rest[0]
	log := newLogger(stderr, *cf.logLevel, *cf.logFormat)
	f, err := cf.connect(ctx, log, false, "")
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer f.Close()
	job, err := f.Ledger.Job(ctx, id)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	stores := &ledger.Stores{Options: objstore.Options{S3Endpoint: *cf.s3Endpoint, Region: *cf.s3Region, Logger: log}}
	out, err := stores.Open(ctx, job.Config.Output)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	t := joblogs.NewTail(out, *worker)
	for {
		if err := t.Print(ctx, stdout); err != nil {
			if ctx.Err() != nil {
				return exitInterrupt
			}
			// Following: a worker's files appear at its first flush.
			if !*followFlag || !errors.Is(err, joblogs.ErrNoLogs) {
				return fail(stderr, exitUsage, "%v", err)
			}
		}
		if !*followFlag {
			t.Flush(stdout)
			return exitOK
		}
		st, _, err := f.Ledger.State(ctx, id)
		if err == nil && st.Terminal() {
			// One last read: the workers rewrite the reports when they see the end.
			select {
			case <-ctx.Done():
			case <-time.After(3 * time.Second):
			}
			_ = t.Print(ctx, stdout)
			t.Flush(stdout)
			return exitOK
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return exitInterrupt
			}
			t.Flush(stdout)
			return exitOK
		case <-time.After(2 * time.Second):
		}
	}
}
