package exporter

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parallelrun/prs/contracts"
)

// Names of the queue's metrics, for the autoscalers' queries
// (deploy/nomad) and dashboards.
const (
	// MetricWaiting is the mini-batches waiting, over all jobs.
	MetricWaiting = "prs_queue_waiting_mini_batches"
	// MetricInFlight is the mini-batches in flight, over all jobs.
	MetricInFlight = "prs_queue_in_flight_mini_batches"
	// MetricDesiredWorkers is the number of workers the queue wants.
	MetricDesiredWorkers = "prs_queue_desired_workers"
	// MetricUp is 1 when a scrape could read JetStream.
	MetricUp = "prs_exporter_up"
)

// The metrics, all gauges read at scrape time.
var (
	descUp = prometheus.NewDesc(MetricUp,
		"1 when this scrape read the queue and the jobs from JetStream, 0 when it could not (then no queue figures are reported).", nil, nil)
	descDuration = prometheus.NewDesc("prs_exporter_scrape_duration_seconds",
		"Time this scrape took to read JetStream.", nil, nil)
	descWaiting = prometheus.NewDesc(MetricWaiting,
		"Mini-batches waiting for a worker, over all jobs (the workers' consumer's num_pending).", nil, nil)
	descInFlight = prometheus.NewDesc(MetricInFlight,
		"Mini-batches delivered to a worker and not yet acknowledged, over all jobs (the consumer's num_ack_pending).", nil, nil)
	descDesired = prometheus.NewDesc(MetricDesiredWorkers,
		"Workers wanted: ceil((waiting + in flight) / slots per worker), capped by the maximum.", nil, nil)
	descSlots = prometheus.NewDesc("prs_queue_slots_per_worker",
		"The slots per worker the desired worker count assumes (prs exporter --slots-per-worker).", nil, nil)
	descJobWaiting = prometheus.NewDesc("prs_job_waiting_mini_batches",
		"A job's mini-batches waiting for a worker.", []string{"job_id"}, nil)
	descJobInFlight = prometheus.NewDesc("prs_job_in_flight_mini_batches",
		"A job's mini-batches delivered and not yet acknowledged.", []string{"job_id"}, nil)
	descJobNodes = prometheus.NewDesc("prs_job_node_count",
		"The node_count recorded with the job: the number of workers its submitter asked for.", []string{"job_id"}, nil)
	descJobState = prometheus.NewDesc("prs_job_state",
		"1 for the job's current state, 0 for the others.", []string{"job_id", "state"}, nil)
)

// The per-job label is job_id, not job: Prometheus gives every scraped
// series a job label of its own (the scrape job), and a metric's job label
// would be renamed exported_job.
var jobStates = []string{contracts.StateRunning, contracts.StateCompleted, contracts.StateFailed, contracts.StateCancelled}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descDuration, descWaiting, descInFlight, descDesired, descSlots,
		descJobWaiting, descJobInFlight, descJobNodes, descJobState} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it reads JetStream now, within
// Config.Timeout.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), e.cfg.Timeout)
	defer cancel()
	start := time.Now()
	s, err := e.Read(ctx)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descDuration, time.Since(start).Seconds())
	if err != nil {
		e.cfg.Logger.Warn("exporter: could not read the queue", "err", err)
		gauge(descUp, 0)
		return
	}
	gauge(descUp, 1)
	gauge(descWaiting, float64(s.Waiting))
	gauge(descInFlight, float64(s.InFlight))
	gauge(descDesired, float64(s.DesiredWorkers))
	gauge(descSlots, float64(e.cfg.SlotsPerWorker))
	for _, j := range s.Jobs {
		gauge(descJobWaiting, float64(j.Waiting), j.ID)
		gauge(descJobInFlight, float64(j.InFlight), j.ID)
		if j.NodeCount > 0 {
			gauge(descJobNodes, float64(j.NodeCount), j.ID)
		}
		if j.State == "" {
			continue
		}
		for _, st := range jobStates {
			v := 0.0
			if st == j.State {
				v = 1
			}
			gauge(descJobState, v, j.ID, st)
		}
	}
}
