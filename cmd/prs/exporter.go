package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/exporter"
	"github.com/parallelrun/prs/internal/metrics"
)

func cmdExporter(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("prs exporter", flag.ContinueOnError)
	nf := addNATS(fs)
	addr := fs.String("metrics-addr", ":9091", "serve the queue's metrics at http://ADDR/metrics")
	slots := fs.Int("slots-per-worker", 1, "slots of each worker (its --slots): prs_queue_desired_workers is ceil((waiting + in flight) / this)")
	maxWorkers := fs.Int("max-workers", 0, "cap of prs_queue_desired_workers (0: no cap)")
	keepEnded := fs.Duration("keep-ended", time.Hour, "how long a job that ended stays in the per-job metrics")
	timeout := fs.Duration("scrape-timeout", 10*time.Second, "the most one scrape may spend reading JetStream")
	rest, code, ok := parse(fs, args, stderr)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return fail(stderr, exitUsage, "exporter takes no arguments, got %q", rest)
	}
	if *slots < 1 {
		return fail(stderr, exitUsage, "--slots-per-worker must be at least 1, got %d", *slots)
	}
	if *maxWorkers < 0 || *keepEnded <= 0 || *timeout <= 0 {
		return fail(stderr, exitUsage, "--max-workers must be 0 or more, --keep-ended and --scrape-timeout more than 0")
	}
	log := newLogger(stderr, *nf.logLevel, *nf.logFormat)
	if *nf.nats == "" {
		return fail(stderr, exitUsage, "no NATS server: give --nats URL or set PRS_NATS_URL")
	}
	cc, err := nf.connectConfig(log)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	nc, err := broker.Connect(cc)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	e, err := exporter.New(exporter.Config{JS: js, SlotsPerWorker: *slots, MaxWorkers: *maxWorkers,
		KeepEnded: *keepEnded, Timeout: *timeout, Logger: log})
	if err != nil {
		return fail(stderr, exitUsage, "%v", err)
	}
	defer e.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	at, err := metrics.Serve(ctx, *addr, reg, log)
	if err != nil {
		return fail(stderr, exitUsage, "--metrics-addr: %v", err)
	}
	log.Info("serving the queue's metrics", "url", "http://"+at+"/metrics", "slots_per_worker", *slots)
	fmt.Fprintf(stdout, "prs exporter: http://%s/metrics\n", at)
	<-ctx.Done()
	return exitOK
}
