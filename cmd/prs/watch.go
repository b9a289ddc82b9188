package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/jobconfig"
	"github.com/parallelrun/prs/producer"
	"github.com/parallelrun/prs/watch"
)

func cmdWatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs watch", flag.ContinueOnError)
	jf := jobconfig.Register(fs)
	cf := addCommon(fs)
	name := fs.String("name", "watch", "the watch's `name`: its windows are written under <output>/<name>/<window>/ and are jobs <name>-<window>")
	windowFiles := fs.Int64("window-files", 1000, "close a window once it holds this many files")
	window := fs.Duration("window", time.Minute, "close a window this long after its first file arrived")
	source := fs.String("source", watch.SourceListing, "where object events come from: listing (list the input every --list-interval) or events (the store publishes them to --subject, e.g. MinIO's NATS target)")
	subject := fs.String("subject", "", "the `subject` of the watch's object events (default prs.events.<name>)")
	listEvery := fs.Duration("list-interval", 10*time.Second, "listing source: time between two listings of the input")
	fullEvery := fs.Int64("full-listing-every", 10, "listing source: every n-th listing lists the whole input (finding objects below the watermark and new content of known keys); the others list after the watermark")
	lease := fs.Duration("lease", 15*time.Second, "how long a replica leads the watch without renewing; another replica, or a restarted one, takes over after it")
	dedupTTL := fs.Duration("dedup-ttl", 7*24*time.Hour, "how long an object version is remembered as scored (set when the watch is first made)")
	setup := fs.Bool("setup", false, "events source: subscribe the input's bucket to the store's notification target --setup-arn (S3 PutBucketNotificationConfiguration), then watch")
	arn := fs.String("setup-arn", "arn:minio:sqs::PRS:nats", "with --setup: the notification target's ARN (MinIO logs it at start: arn:minio:sqs::<ID>:nats)")
	stateDir := fs.String("state-dir", "", "without --nats: keep the embedded JetStream server's files here, so that a restarted watch remembers what it scored (default a temporary folder)")
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	cfg, _, log, err := jobConfig(jf, cf, rest, stderr)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	if err := contracts.ValidateWatchName(*name); err != nil {
		return fail(stderr, exitUsage, "--name: %v", err)
	}
	if *stateDir != "" && *cf.nats == "" {
		unlock, err := lockStateDir(*stateDir)
		if err != nil {
			return fail(stderr, exitUsage, "%v", err)
		}
		defer unlock()
	}
	f, err := cf.connect(ctx, log, true, *stateDir)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer f.Close()
	wm, pm, watchMetrics, err := cf.exporterAll(ctx, log)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	p, err := producer.New(producer.Config{Ledger: f.Ledger, Preflight: preflight(f.Server == nil, log), Logger: log, Metrics: pm})
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	tmpl, err := p.Prepare(ctx, cfg)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	wc := watch.Config{
		Name: *name, Template: tmpl, Producer: p, Ledger: f.Ledger, Source: *source, Subject: *subject,
		WindowFiles: *windowFiles, Window: *window, Lease: *lease, ListInterval: *listEvery,
		FullListingEvery: *fullEvery, DedupTTL: *dedupTTL, Replicas: *cf.replicas, Logger: log,
	}
	if watchMetrics != nil {
		wc.Metrics = watchMetrics
	}
	if *setup {
		if err := watch.Subscribe(ctx, f.Ledger.Stores, cfg.Input, *arn); err != nil {
			return fail(stderr, exitUsage, "--setup: %v", err)
		}
		log.Info("subscribed the bucket to the notification target", "input", cfg.Input, "arn", *arn)
	}
	w, err := watch.New(wc)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	if f.Server != nil {
		// The embedded default: the workers run here, like prs run; other
		// prs commands reach this watch's server with --nats.
		fmt.Fprintf(stdout, "watch %s on nats %s\n", *name, f.URL)
		stopWorker, err := startLocalWorker(ctx, f, log, cfg.ProcessCountPerNode, stderr, wm)
		if err != nil {
			return fail(stderr, exitUsage, "%v", err)
		}
		defer stopWorker()
	} else {
		fmt.Fprintf(stdout, "watch %s\n", *name)
	}
	if err := w.Run(ctx); err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	log.Info("watch stopped")
	return exitOK
}
