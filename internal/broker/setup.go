package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/retry"
)

// SetupConfig shapes the streams, bucket and consumer when Setup creates
// them. Setup never changes what exists already, except the consumer's
// AckWait when AckWait is set: a status command must not reshape the fleet.
type SetupConfig struct {
	// AckWait is how long a delivered mini-batch may go without an ack or a
	// heartbeat before JetStream gives it to another worker. Zero keeps the
	// existing consumer's (30s when Setup creates it). Workers heartbeat
	// every AckWait/3 and at least every 5s.
	AckWait time.Duration
	// DedupWindow is how long a mini-batch's message id and a counter
	// increment's id are remembered (default 1h). An outcome whose counting
	// was interrupted by a crash is counted again by the redelivery of its
	// message, which comes after AckWait, far inside it.
	DedupWindow time.Duration
	// MaxAckPending is the most mini-batches in flight fleet-wide (default 10000).
	MaxAckPending int
	// Replicas of streams, bucket and consumer when they are created
	// (default 1). When set, those that exist must have as many (an error
	// matching ErrReplicas otherwise): Setup never changes them.
	Replicas int
}

// DefaultAckWait is the consumer's AckWait when Setup creates it.
const DefaultAckWait = 30 * time.Second

func (c *SetupConfig) defaults() {
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
	// AckWait is the worker consumer's AckWait as Setup found or set it.
	AckWait time.Duration
	// MaxRecord is the largest value the jobs bucket takes, headers
	// included: the server's max_payload (1 MiB by default, 8 MiB on the
	// embedded server) or the bucket's max_value_size where an admin set a
	// smaller one.
	MaxRecord int
}

// HeartbeatEvery is how often a worker signals progress on a message.
func (h *Handles) HeartbeatEvery() time.Duration {
	return min(h.AckWait/3, 5*time.Second)
}

// Setup creates the streams, the KV bucket and the worker consumer where
// they are missing; it is idempotent and every prs process calls it. When
// all of them exist it only looks them up, so a user that may not create
// or change them (README "NATS permissions") runs it as long as it sets
// no AckWait other than the consumer's.
func Setup(ctx context.Context, js jetstream.JetStream, cfg SetupConfig) (*Handles, error) {
	asked := cfg.Replicas
	cfg.defaults()
	batches, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:       contracts.BatchStream,
		Subjects:   []string{contracts.BatchSubjects},
		Retention:  jetstream.WorkQueuePolicy,
		Discard:    jetstream.DiscardNew,
		Storage:    jetstream.FileStorage,
		Duplicates: cfg.DedupWindow,
		Replicas:   cfg.Replicas,
	})
	if err != nil {
		return nil, err
	}
	counters, err := ensureStream(ctx, js, jetstream.StreamConfig{
		Name:            contracts.CounterStream,
		Subjects:        []string{contracts.CounterSubjects},
		AllowMsgCounter: true,
		Storage:         jetstream.FileStorage,
		Duplicates:      cfg.DedupWindow,
		// Every increment is kept (a counter's value is its subject's last
		// message) until the retention sweep purges the job's counters:
		// a restarted server rebuilds its dedup window from the messages
		// it holds, so an increment sent again after a restart (a count
		// retried, a batch come back) is still a duplicate.
		AllowDirect: cfg.Replicas == 1, // see consistentReads
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, err
	}
	jobs, err := ensureBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	cons, err := ensureConsumer(ctx, batches, cfg)
	if err != nil {
		return nil, err
	}
	maxRecord, err := maxRecord(ctx, js, jobs)
	if err != nil {
		return nil, err
	}
	h := &Handles{JS: js, Batches: batches, Counters: counters, Jobs: jobs, Consumer: cons,
		AckWait: cons.CachedInfo().Config.AckWait, MaxRecord: maxRecord}
	if err := checkAllReplicas(ctx, h, asked); err != nil {
		return nil, err
	}
	return h, nil
}

// maxRecord is the largest message the jobs bucket takes: the connection's
// max_payload, or the bucket's max_value_size when it is smaller.
func maxRecord(ctx context.Context, js jetstream.JetStream, jobs jetstream.KeyValue) (int, error) {
	n := int(js.Conn().MaxPayload())
	st, err := jobs.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("kv %s: %w", contracts.JobBucket, err)
	}
	if v := int(st.Config().MaxValueSize); v > 0 && v < n {
		n = v
	}
	return n, nil
}

// missing explains a failed creation: without the permission to create
// (see README "NATS permissions"), an admin must run prs once first.
const missing = "is missing and creating it failed (a user without the permission needs an admin to run prs once)"

// ensureBucket returns the jobs bucket, creating it when it is missing.
func ensureBucket(ctx context.Context, js jetstream.JetStream, cfg SetupConfig) (jetstream.KeyValue, error) {
	jobs, err := js.KeyValue(ctx, contracts.JobBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		jobs, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   contracts.JobBucket,
			History:  1,
			Storage:  jetstream.FileStorage,
			Replicas: cfg.Replicas,
		})
		if err == nil && cfg.Replicas > 1 {
			jobs, err = consistentReads(ctx, js)
		}
		if errors.Is(err, jetstream.ErrBucketExists) {
			jobs, err = js.KeyValue(ctx, contracts.JobBucket)
		}
		if rerr := replicasError("kv "+contracts.JobBucket, cfg.Replicas, err); rerr != nil {
			return nil, rerr
		}
		if err != nil {
			return nil, fmt.Errorf("kv %s %s: %w", contracts.JobBucket, missing, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", contracts.JobBucket, err)
	}
	return jobs, nil
}

// ensureConsumer returns the workers' consumer, creating it when it is
// missing, and changes its AckWait only when cfg.AckWait is set and
// differs: a worker or producer without the permission never asks.
func ensureConsumer(ctx context.Context, batches jetstream.Stream, cfg SetupConfig) (jetstream.Consumer, error) {
	cons, err := batches.Consumer(ctx, contracts.WorkerConsumer)
	switch {
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		wait := cfg.AckWait
		if wait <= 0 {
			wait = DefaultAckWait
		}
		cons, err = batches.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       contracts.WorkerConsumer,
			AckPolicy:     jetstream.AckExplicitPolicy,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			AckWait:       wait,
			MaxDeliver:    -1,
			MaxAckPending: cfg.MaxAckPending,
			Replicas:      cfg.Replicas,
		})
		if rerr := replicasError("consumer "+contracts.WorkerConsumer, cfg.Replicas, err); rerr != nil {
			return nil, rerr
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s %s: %w", contracts.WorkerConsumer, missing, err)
		}
	case err == nil && cfg.AckWait > 0 && cons.CachedInfo().Config.AckWait != cfg.AckWait:
		c := cons.CachedInfo().Config
		c.AckWait = cfg.AckWait
		if cons, err = batches.UpdateConsumer(ctx, c); err != nil {
			return nil, fmt.Errorf("changing the ack wait of consumer %s to %s (a user without the permission leaves --ack-wait to an admin): %w", contracts.WorkerConsumer, cfg.AckWait, err)
		}
	case err != nil:
		return nil, fmt.Errorf("consumer %s: %w", contracts.WorkerConsumer, err)
	}
	return cons, nil
}

// ensureStream returns the stream, creating it when it is missing.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = js.CreateStream(ctx, cfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			s, err = js.Stream(ctx, cfg.Name)
		}
		if rerr := replicasError("stream "+cfg.Name, cfg.Replicas, err); rerr != nil {
			return nil, rerr
		}
		if err != nil {
			return nil, fmt.Errorf("stream %s %s: %w", cfg.Name, missing, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// ErrNoJob is returned when a job has no record in KV; it is permanent
// (retry.IsPermanent).
var ErrNoJob = retry.Permanent(errors.New("no such job"))
