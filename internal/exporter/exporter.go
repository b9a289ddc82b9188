package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// Config configures an Exporter.
type Config struct {
	// JS reaches the fleet's JetStream (required). The exporter only reads:
	// it never creates a stream, a bucket or the workers' consumer.
	JS jetstream.JetStream
	// SlotsPerWorker is the number of mini-batches one worker runs at once
	// (its --slots), the divisor of the desired worker count (default 1).
	SlotsPerWorker int
	// MaxWorkers caps the desired worker count (default 0: no cap).
	MaxWorkers int
	// KeepEnded is how long a job that ended stays in the per-job figures
	// after its end (default 1h). Running jobs and jobs with mini-batches in
	// the queue are always in them.
	KeepEnded time.Duration
	// Timeout bounds one scrape's reads of JetStream (default 10s).
	Timeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) validate() error {
	if c.JS == nil {
		return errors.New("exporter: Config.JS is required")
	}
	if c.SlotsPerWorker < 0 {
		return fmt.Errorf("exporter: SlotsPerWorker must be at least 1, got %d", c.SlotsPerWorker)
	}
	if c.MaxWorkers < 0 {
		return fmt.Errorf("exporter: MaxWorkers must be 0 (no cap) or more, got %d", c.MaxWorkers)
	}
	if c.KeepEnded < 0 || c.Timeout < 0 {
		return fmt.Errorf("exporter: KeepEnded and Timeout must not be negative")
	}
	if c.SlotsPerWorker == 0 {
		c.SlotsPerWorker = 1
	}
	if c.KeepEnded == 0 {
		c.KeepEnded = time.Hour
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Snapshot is what one scrape read.
type Snapshot struct {
	// Waiting is the mini-batches never delivered (the consumer's
	// num_pending), InFlight those delivered and not acknowledged
	// (num_ack_pending), over all jobs.
	Waiting, InFlight int64
	// DesiredWorkers is DesiredWorkers(Waiting, InFlight, SlotsPerWorker, MaxWorkers).
	DesiredWorkers int64
	// Jobs are the jobs with mini-batches in the queue, the jobs not ended,
	// and the jobs ended within KeepEnded, by id.
	Jobs []Job
}

// Job is one job's figures.
type Job struct {
	ID string
	// Waiting and InFlight are the job's share of the queue.
	Waiting, InFlight int64
	// State is the job's recorded state ("" when it has no state record).
	State string
	// NodeCount is the node_count recorded with the job (0 when none was).
	NodeCount int
}

// DesiredWorkers is the rule every autoscaler of prs encodes: enough
// workers of slots slots each for every mini-batch waiting or in flight,
// ceil((waiting+inFlight)/slots), at most max when max > 0. In-flight
// mini-batches count so that a busy worker is not scaled in.
func DesiredWorkers(waiting, inFlight int64, slots, max int) int64 {
	if slots < 1 {
		slots = 1
	}
	n := (waiting + inFlight + int64(slots) - 1) / int64(slots)
	if max > 0 && n > int64(max) {
		n = int64(max)
	}
	return n
}

// Exporter reads the queue and the jobs; it is a prometheus.Collector.
type Exporter struct {
	cfg   Config
	jobs  *jobWatch
	mu    sync.Mutex
	specs map[string]int // node_count by job id
}

// New validates cfg. Close releases the exporter's watch of the jobs.
func New(cfg Config) (*Exporter, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Exporter{cfg: cfg, jobs: &jobWatch{js: cfg.JS, log: cfg.Logger}, specs: map[string]int{}}, nil
}

// Close stops the watch of the jobs' states.
func (e *Exporter) Close() { e.jobs.close() }

// Read reads the queue and the jobs once.
func (e *Exporter) Read(ctx context.Context) (*Snapshot, error) {
	q, err := readQueue(ctx, e.cfg.JS)
	if err != nil {
		return nil, err
	}
	states, err := e.jobs.states(ctx)
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Waiting: q.waiting, InFlight: q.inFlight,
		DesiredWorkers: DesiredWorkers(q.waiting, q.inFlight, e.cfg.SlotsPerWorker, e.cfg.MaxWorkers)}
	ids := map[string]bool{}
	for id := range q.jobs {
		ids[id] = true
	}
	now := time.Now()
	for id, st := range states {
		if !st.Terminal() || now.Sub(ended(st)) < e.cfg.KeepEnded {
			ids[id] = true
		}
	}
	for id := range ids {
		j := Job{ID: id, Waiting: q.jobs[id].waiting, InFlight: q.jobs[id].inFlight, State: states[id].State}
		if j.NodeCount, err = e.nodeCount(ctx, id); err != nil {
			return nil, err
		}
		s.Jobs = append(s.Jobs, j)
	}
	sort.Slice(s.Jobs, func(a, b int) bool { return s.Jobs[a].ID < s.Jobs[b].ID })
	e.forgetSpecs(ids)
	return s, nil
}

// ended is when a job ended: its Finished time, else its last update.
func ended(st contracts.JobState) time.Time {
	if !st.Finished.IsZero() {
		return st.Finished
	}
	return st.Updated
}

// nodeCount reads the node_count recorded with a job once and remembers it
// (a job's spec does not change: a resume with other settings is refused).
// A job without a spec yet is asked again at the next scrape.
func (e *Exporter) nodeCount(ctx context.Context, id string) (int, error) {
	e.mu.Lock()
	n, ok := e.specs[id]
	e.mu.Unlock()
	if ok {
		return n, nil
	}
	n, found, err := e.jobs.nodeCount(ctx, id)
	if err != nil || !found {
		return 0, err
	}
	e.mu.Lock()
	e.specs[id] = n
	e.mu.Unlock()
	return n, nil
}

// forgetSpecs drops the remembered specs of jobs no longer reported.
func (e *Exporter) forgetSpecs(keep map[string]bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range e.specs {
		if !keep[id] {
			delete(e.specs, id)
		}
	}
}
