// Package fleet assembles what every prs process works with, in one place:
// JetStream (an embedded server or an external one, connected and set up:
// broker.Open), the object stores, and the ledger over both. The CLI, the
// benchmarks and the integration tests open their fleet with Open.
package fleet

import (
	"context"
	"log/slog"
	"time"

	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/objstore"
)

// Config says how to assemble a fleet.
type Config struct {
	// Broker says how to reach JetStream (broker.OpenConfig).
	Broker broker.OpenConfig
	// Stores are the object-store options (S3 endpoint, region, ...).
	Stores objstore.Options
	// StoreRetry bounds the retries of one object-store call on transient
	// errors (default 2m).
	StoreRetry time.Duration
	// Worker names this process in claims, outcomes and result keys
	// (required).
	Worker string
	// Logger receives the fleet's logs (default slog.Default()).
	Logger *slog.Logger
}

// Fleet is an open JetStream session and the ledger over it.
type Fleet struct {
	*broker.Session
	Ledger *ledger.Ledger
}

// Open assembles a fleet; Close takes it apart.
func Open(ctx context.Context, cfg Config) (*Fleet, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Broker.Connect.Logger == nil {
		cfg.Broker.Connect.Logger = cfg.Logger
	}
	s, err := broker.Open(ctx, cfg.Broker)
	if err != nil {
		return nil, err
	}
	stores := &ledger.Stores{Options: cfg.Stores, Retry: cfg.StoreRetry}
	return &Fleet{Session: s, Ledger: ledger.New(s.Handles, stores, cfg.Worker, cfg.Logger)}, nil
}
