package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// SetupConfig shapes the streams, bucket and consumer. Zero fields take
// their defaults.
type SetupConfig struct {
	// AckWait is how long a delivered mini-batch may go without an ack or a
	// heartbeat before JetStream gives it to another worker (default 30s).
	// Workers heartbeat every AckWait/3, so it bounds how soon the work of a
	// dead worker is taken over.
	AckWait time.Duration
	// DedupWindow is how long a mini-batch's message id and a counter
	// increment's id are remembered (default 1h). An outcome whose counting
	// was interrupted by a crash must be retried within it; redeliveries
	// come after AckWait, far inside it.
	DedupWindow time.Duration
	// MaxAckPending is the most mini-batches in flight fleet-wide (default 10000).
	MaxAckPending int
	// Replicas for streams and bucket (default 1).
	Replicas int
}

func (c *SetupConfig) defaults() {
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = time.Hour
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 10000
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
}

// Handles are what Setup creates or finds.
type Handles struct {
	JS       jetstream.JetStream
	Batches  jetstream.Stream
	Counters jetstream.Stream
	Jobs     jetstream.KeyValue
	Consumer jetstream.Consumer
	AckWait  time.Duration
}

// Setup creates or updates the streams, the KV bucket and the worker
// consumer; it is idempotent and every prs process calls it.
func Setup(ctx context.Context, js jetstream.JetStream, cfg SetupConfig) (*Handles, error) {
	cfg.defaults()
	batches, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       contracts.BatchStream,
		Subjects:   []string{contracts.BatchSubjects},
		Retention:  jetstream.WorkQueuePolicy,
		Discard:    jetstream.DiscardNew,
		Storage:    jetstream.FileStorage,
		Duplicates: cfg.DedupWindow,
		Replicas:   cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", contracts.BatchStream, err)
	}
	counters, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:              contracts.CounterStream,
		Subjects:          []string{contracts.CounterSubjects},
		AllowMsgCounter:   true,
		Storage:           jetstream.FileStorage,
		Duplicates:        cfg.DedupWindow,
		MaxMsgsPerSubject: 1,
		AllowDirect:       true,
		Replicas:          cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", contracts.CounterStream, err)
	}
	jobs, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:   contracts.JobBucket,
		History:  1,
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", contracts.JobBucket, err)
	}
	cons, err := batches.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       contracts.WorkerConsumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait:       cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: cfg.MaxAckPending,
		Replicas:      cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", contracts.WorkerConsumer, err)
	}
	return &Handles{JS: js, Batches: batches, Counters: counters, Jobs: jobs, Consumer: cons, AckWait: cfg.AckWait}, nil
}

// ErrNoJob is returned when a job has no record in KV.
var ErrNoJob = errors.New("no such job")
