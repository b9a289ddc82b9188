// Package metrics exports what workers and producers do as Prometheus
// metrics (namespace prs), behind the small interfaces of consumer and
// producer, and serves them over HTTP.
package metrics

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Worker implements consumer.Metrics.
type Worker struct {
	attempts   *prometheus.CounterVec
	runSeconds *prometheus.HistogramVec
	initSecs   prometheus.Histogram
	batches    *prometheus.CounterVec
	items      *prometheus.CounterVec
	inFlight   prometheus.Gauge
	redeliver  prometheus.Counter
	heartbeats prometheus.Counter
}

// NewWorker registers the worker metrics on reg.
func NewWorker(reg prometheus.Registerer) *Worker {
	f := factory{reg}
	return &Worker{
		attempts: f.counterVec("worker_attempts_total", "Runs of a mini-batch by result: ok, error, timeout, transient.", "result"),
		runSeconds: f.histogramVec("worker_run_duration_seconds", "Duration of one run of a mini-batch, by result.",
			prometheus.ExponentialBuckets(0.01, 2, 16), "result"),
		initSecs: f.histogram("worker_init_duration_seconds", "Duration of a handler start (init(), a model session).",
			prometheus.ExponentialBuckets(0.01, 2, 14)),
		batches:    f.counterVec("worker_mini_batches_total", "Mini-batch outcomes recorded by this worker, by result: succeeded, failed.", "result"),
		items:      f.counterVec("worker_items_total", "Items of the outcomes recorded by this worker, by result: succeeded, failed.", "result"),
		inFlight:   f.gauge("worker_in_flight_mini_batches", "Mini-batches being handled."),
		redeliver:  f.counter("worker_redeliveries_total", "Messages delivered more than once."),
		heartbeats: f.counter("worker_heartbeats_total", "In-progress signals sent for running mini-batches."),
	}
}

// Attempt counts one run.
func (m *Worker) Attempt(result string, d time.Duration) {
	m.attempts.WithLabelValues(result).Inc()
	m.runSeconds.WithLabelValues(result).Observe(d.Seconds())
}

// Init observes a handler start.
func (m *Worker) Init(d time.Duration) { m.initSecs.Observe(d.Seconds()) }

// Outcome counts a recorded outcome and its items.
func (m *Worker) Outcome(ok bool, succeeded, failed int) {
	r := "succeeded"
	if !ok {
		r = "failed"
	}
	m.batches.WithLabelValues(r).Inc()
	m.items.WithLabelValues("succeeded").Add(float64(succeeded))
	m.items.WithLabelValues("failed").Add(float64(failed))
}

// InFlight changes the in-flight gauge.
func (m *Worker) InFlight(delta int) { m.inFlight.Add(float64(delta)) }

// Redelivery counts a redelivered message.
func (m *Worker) Redelivery() { m.redeliver.Inc() }

// Heartbeat counts a heartbeat.
func (m *Worker) Heartbeat() { m.heartbeats.Inc() }

// Producer implements producer.Metrics.
type Producer struct {
	listed    prometheus.Counter
	published prometheus.Counter
}

// NewProducer registers the producer metrics on reg.
func NewProducer(reg prometheus.Registerer) *Producer {
	f := factory{reg}
	return &Producer{
		listed:    f.counter("producer_objects_listed_total", "Input objects listed for publishing."),
		published: f.counter("producer_mini_batches_published_total", "Mini-batch messages published."),
	}
}

// Listed counts listed objects.
func (m *Producer) Listed(n int) { m.listed.Add(float64(n)) }

// Published counts published mini-batches.
func (m *Producer) Published(n int) { m.published.Add(float64(n)) }

// Serve serves reg's metrics at http://addr/metrics until ctx ends. It
// returns once the listener is open, with the address it listens on.
func Serve(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ln.Addr().String(), nil
}

type factory struct{ reg prometheus.Registerer }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "prs", Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "prs", Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "prs", Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "prs", Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "prs", Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

// Watch implements watch.Metrics.
type Watch struct {
	waiting    *prometheus.GaugeVec
	oldest     *prometheus.GaugeVec
	taken      *prometheus.CounterVec
	duplicates *prometheus.CounterVec
}

// NewWatch registers the metrics of prs watch on reg.
func NewWatch(reg prometheus.Registerer) *Watch {
	gv := func(name, help string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "prs", Name: name, Help: help}, []string{"watch"})
		reg.MustRegister(g)
		return g
	}
	f := factory{reg}
	return &Watch{
		waiting:    gv("watch_events_waiting", "Object events waiting in the watch's event stream, not yet taken into a mini-batch."),
		oldest:     gv("watch_oldest_event_age_seconds", "Age of the oldest object event waiting in the watch's event stream (0 when none waits)."),
		taken:      f.counterVec("watch_objects_taken_total", "Object versions taken into mini-batches.", "watch"),
		duplicates: f.counterVec("watch_duplicate_events_total", "Events of object versions taken before (store redeliveries, re-uploads of the same content, listings).", "watch"),
	}
}

// Lag sets the events waiting and the oldest one's age.
func (m *Watch) Lag(watch string, waiting int64, oldest time.Duration) {
	m.waiting.WithLabelValues(watch).Set(float64(waiting))
	m.oldest.WithLabelValues(watch).Set(oldest.Seconds())
}

// Taken counts object versions taken.
func (m *Watch) Taken(watch string, n int) { m.taken.WithLabelValues(watch).Add(float64(n)) }

// Duplicates counts duplicate events.
func (m *Watch) Duplicates(watch string, n int) { m.duplicates.WithLabelValues(watch).Add(float64(n)) }
