// Package brokertest starts what tests of prs's JetStream side need: an
// embedded JetStream server in a temporary folder, a connection, and prs's
// streams, bucket and consumer (broker.Open).
package brokertest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parallelrun/prs/internal/broker"
)

// Start runs the server and sets up prs on it; everything stops when the
// test ends.
func Start(t testing.TB, cfg broker.SetupConfig) (*server.Server, *broker.Handles) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := broker.Open(ctx, broker.OpenConfig{
		Connect:  broker.ConnectConfig{Logger: slog.New(slog.DiscardHandler)},
		Embedded: &broker.EmbeddedConfig{StoreDir: t.TempDir()},
		Setup:    cfg,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.Server, s.Handles
}
