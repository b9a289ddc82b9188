package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/parallelrun/prs/cmd/prs/internal/debugrun"
	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/jobconfig"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

func cmdDebug(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs debug", flag.ContinueOnError)
	jf := jobconfig.Register(fs)
	cf := addCommon(fs)
	limit := fs.Int("limit", 0, "files in the mini-batch, at least 1 (default mini_batch_size)")
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	limitSet := false
	fs.Visit(func(f *flag.Flag) { limitSet = limitSet || f.Name == "limit" })
	if limitSet && *limit < 1 {
		return fail(stderr, exitUsage, "--limit must be at least 1 file, got %d (leave it out for mini_batch_size)", *limit)
	}
	cfg, err := jf.Config(rest)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	log := newLogger(stderr, *cf.logLevel, *cf.logFormat)
	for _, w := range jf.Warnings() {
		log.Warn("config: " + w)
	}
	stores := &ledger.Stores{Options: objstore.Options{S3Endpoint: *cf.s3Endpoint, Region: *cf.s3Region, Logger: log}}
	if cfg.Handler != contracts.HandlerEntryScript {
		return fail(stderr, exitUsage, "prs debug runs entry scripts; handler %q has no script to debug", cfg.Handler)
	}
	rep, err := debugrun.Run(ctx, debugrun.Config{Job: cfg, Limit: *limit, Stores: stores, Stdout: stderr, Stderr: stderr})
	if ctx.Err() != nil {
		return exitInterrupt
	}
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	if rep.Tabular {
		fmt.Fprintf(stdout, "mini-batch of %d rows of %s (a pandas DataFrame)\n", rep.Count, rep.Items[0])
		for _, e := range rep.RowErrors {
			fmt.Fprintf(stdout, "  malformed row, a failed item: %s\n", e)
		}
	} else {
		fmt.Fprintf(stdout, "mini-batch of %d files: %v\n", len(rep.Items), rep.Items)
	}
	if rep.Partition != nil {
		fmt.Fprintf(stdout, "mini_batch_context.partition_key_value: %s\n", rep.Partition.Object())
		if rep.Groups > 1 {
			fmt.Fprintf(stdout, "(the first of %d partition_keys groups)\n", rep.Groups)
		}
	}
	if rep.Err != nil {
		fmt.Fprintf(stdout, "FAILED after init %s, run %s: %v\n", rep.InitTook.Round(1e6), rep.RunTook.Round(1e6), rep.Err)
		var se *consumer.ScriptError
		if errors.As(rep.Err, &se) && se.Traceback != "" {
			fmt.Fprintf(stdout, "%s\n", se.Traceback)
		}
		fmt.Fprintf(stdout, "%d items: 0 succeeded, %d failed\n", rep.Count, rep.Failed)
		return exitJobFailed
	}
	fmt.Fprintf(stdout, "init() took %s, run() took %s; it returned %d rows:\n", rep.InitTook.Round(1e6), rep.RunTook.Round(1e6), rep.Returned)
	stdout.Write(rep.Rows)
	if rep.Note != "" {
		fmt.Fprintf(stdout, "note: %s\n", rep.Note)
	}
	fmt.Fprintf(stdout, "%d items: %d succeeded, %d failed\n", rep.Count, rep.Succeeded, rep.Failed)
	if rep.Failed > 0 {
		return exitJobFailed
	}
	return exitOK
}
