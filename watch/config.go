package watch

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/producer"
)

// Sources of object events.
const (
	// SourceListing lists the input every ListInterval and publishes an
	// event for each new object version (S3 without notifications, a
	// local folder).
	SourceListing = "listing"
	// SourceEvents takes the events that the store publishes itself
	// (MinIO's NATS target with JetStream) from the watch's event stream.
	SourceEvents = "events"
)

// Config configures a Watch.
type Config struct {
	// Name names the watch in streams, keys and job ids (required).
	Name string
	// Template is the checked job configuration of every window (required).
	Template *producer.Template
	// Producer opens windows and publishes their mini-batches (required).
	Producer *producer.Producer
	// Ledger records the windows' jobs (required).
	Ledger *ledger.Ledger
	// Source is SourceListing (default) or SourceEvents.
	Source string
	// Subject is the subject of the watch's object events (default
	// contracts.WatchEventSubject(Name)); the event stream is made on it.
	Subject string
	// WindowFiles closes a window once it holds this many files (default 1000).
	WindowFiles int64
	// Window closes a window this long after its first file arrived (default 1m).
	Window time.Duration
	// Lease is how long a replica leads the watch without renewing it, and
	// the events' ack wait: another replica takes over after it (default 15s).
	Lease time.Duration
	// ListInterval is the time between two listings of SourceListing (default 10s).
	ListInterval time.Duration
	// FullListingEvery makes every n-th listing a full one, which finds
	// objects that appear below the watermark (default 10; 1: every one).
	FullListingEvery int64
	// RecentKeys bounds the set of recently listed keys and ETags (default 5000).
	RecentKeys int
	// DedupTTL is how long an object version is remembered as taken: an
	// event for it within the TTL is a duplicate (default 7 days). It is
	// set when the watch's seen bucket is first made.
	DedupTTL time.Duration
	// Replicas of the watch's stream and buckets when they are made (default 1).
	Replicas int
	// Owner names this replica in the lease (default the ledger's worker name).
	Owner string
	// Logger (default slog.Default()).
	Logger *slog.Logger
	// Metrics receives the watch's lag (default none).
	Metrics Metrics
}

// Metrics receives what a watch sees, so that an exporter stays at the
// edge. Methods must be cheap and safe for concurrent use.
type Metrics interface {
	// Lag reports the events waiting in the event stream (not yet taken
	// into a mini-batch) and the age of the oldest one (0 when none).
	Lag(watch string, waiting int64, oldest time.Duration)
	// Taken counts object versions taken into mini-batches.
	Taken(watch string, n int)
	// Duplicates counts events of object versions taken before.
	Duplicates(watch string, n int)
}

type noMetrics struct{}

func (noMetrics) Lag(string, int64, time.Duration) {}
func (noMetrics) Taken(string, int)                {}
func (noMetrics) Duplicates(string, int)           {}

// validate checks the required fields and applies the defaults.
func (c *Config) validate() error {
	if err := contracts.ValidateWatchName(c.Name); err != nil {
		return err
	}
	switch {
	case c.Template == nil:
		return errors.New("watch: Config.Template is required")
	case c.Producer == nil:
		return errors.New("watch: Config.Producer is required")
	case c.Ledger == nil:
		return errors.New("watch: Config.Ledger is required")
	}
	switch c.Source {
	case "":
		c.Source = SourceListing
	case SourceListing, SourceEvents:
	default:
		return &contracts.FieldError{Field: "source", Err: fmt.Errorf("%w: %q (want %s or %s)", contracts.ErrInvalid, c.Source, SourceListing, SourceEvents)}
	}
	if c.Subject == "" {
		c.Subject = contracts.WatchEventSubject(c.Name)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"window", &c.Window, time.Minute}, {"lease", &c.Lease, 15 * time.Second},
		{"list_interval", &c.ListInterval, 10 * time.Second}, {"dedup_ttl", &c.DedupTTL, 7 * 24 * time.Hour}} {
		if *d.v < 0 {
			return &contracts.FieldError{Field: d.name, Err: fmt.Errorf("%w: %s is negative", contracts.ErrInvalid, *d.v)}
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Lease < time.Second {
		return &contracts.FieldError{Field: "lease", Err: fmt.Errorf("%w: %s is under 1s", contracts.ErrInvalid, c.Lease)}
	}
	if c.DedupTTL < time.Hour {
		return &contracts.FieldError{Field: "dedup_ttl", Err: fmt.Errorf("%w: %s is under 1h, shorter than a store's redelivery of queued events", contracts.ErrInvalid, c.DedupTTL)}
	}
	if c.WindowFiles < 0 || c.FullListingEvery < 0 || c.RecentKeys < 0 {
		return &contracts.FieldError{Field: "window_files", Err: fmt.Errorf("%w: window files, full listing interval and recent keys must not be negative", contracts.ErrInvalid)}
	}
	if c.WindowFiles == 0 {
		c.WindowFiles = 1000
	}
	if c.FullListingEvery == 0 {
		c.FullListingEvery = 10
	}
	if c.RecentKeys == 0 {
		c.RecentKeys = 5000
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Owner == "" {
		c.Owner = c.Ledger.Worker
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Metrics == nil {
		c.Metrics = noMetrics{}
	}
	return nil
}
