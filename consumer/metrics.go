package consumer

import "time"

// Metrics receives what a worker does, so that an exporter (Prometheus in
// cmd/prs) stays at the edge. Every method must be cheap and safe for
// concurrent use.
type Metrics interface {
	// Attempt is one run of a mini-batch: result is ok, error, timeout or
	// transient (sent back without spending a try).
	Attempt(result string, d time.Duration)
	// Init is one start of a handler (the script's init(), a model's session).
	Init(d time.Duration)
	// Outcome is a mini-batch outcome this worker recorded.
	Outcome(ok bool, succeeded, failed int)
	// InFlight changes the number of mini-batches being handled.
	InFlight(delta int)
	// Redelivery is a message delivered more than once.
	Redelivery()
	// Heartbeat is one in-progress signal sent for a running mini-batch.
	Heartbeat()
}

type noMetrics struct{}

func (noMetrics) Attempt(string, time.Duration) {}
func (noMetrics) Init(time.Duration)            {}
func (noMetrics) Outcome(bool, int, int)        {}
func (noMetrics) InFlight(int)                  {}
func (noMetrics) Redelivery()                   {}
func (noMetrics) Heartbeat()                    {}
