package watch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
)

// handles are the JetStream parts of a watch.
type handles struct {
	events jetstream.Stream
	cons   jetstream.Consumer
	state  jetstream.KeyValue
	seen   jetstream.KeyValue
}

// errSubject means the watch's event stream exists with another subject:
// the watch was made with another --subject.
var errSubject = errors.New("the watch was made with another subject")

// eventDuplicates is how long the event stream remembers the message id of
// an event published with one (neither MinIO nor the listing source sets
// one: a version's duplicates are found in the seen bucket).
const eventDuplicates = 10 * time.Minute

// setup makes the watch's event stream, its consumer and the two buckets
// where they are missing; what exists is used as it is.
func setup(ctx context.Context, js jetstream.JetStream, c *Config) (*handles, error) {
	name := contracts.WatchEventStream(c.Name)
	events, err := js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// Events wait here while the fleet is slower than arrivals: a
		// work queue that refuses new events when full, never drops them.
		events, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: name, Subjects: []string{c.Subject}, Retention: jetstream.WorkQueuePolicy,
			Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage,
			Duplicates: eventDuplicates, Replicas: c.Replicas,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			events, err = js.Stream(ctx, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("watch %s: stream %s: %w", c.Name, name, err)
	}
	if subj := events.CachedInfo().Config.Subjects; len(subj) != 1 || subj[0] != c.Subject {
		return nil, fmt.Errorf("watch %s: %w: stream %s takes %q, not %q", c.Name, errSubject, name, subj, c.Subject)
	}
	cons, err := events.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: contracts.WatchConsumer, AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy, AckWait: c.Lease, MaxDeliver: -1,
		MaxAckPending: 100000, Replicas: c.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: consumer of stream %s: %w", c.Name, name, err)
	}
	state, err := bucket(ctx, js, jetstream.KeyValueConfig{Bucket: contracts.WatchBucket, History: 1, Storage: jetstream.FileStorage, Replicas: c.Replicas})
	if err != nil {
		return nil, err
	}
	seen, err := bucket(ctx, js, jetstream.KeyValueConfig{Bucket: contracts.WatchSeenBucket, History: 1, TTL: c.DedupTTL, Storage: jetstream.FileStorage, Replicas: c.Replicas})
	if err != nil {
		return nil, err
	}
	return &handles{events: events, cons: cons, state: state, seen: seen}, nil
}

// bucket returns the KV bucket, making it when it is missing.
func bucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, cfg)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("kv %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}
