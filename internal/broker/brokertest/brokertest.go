// Package brokertest starts what tests of prs's JetStream side need: an
// embedded JetStream server in a temporary folder, a connection, and prs's
// streams, bucket and consumer.
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/internal/broker"
)

// Start runs the server and sets up prs on it; everything stops when the
// test ends.
func Start(t testing.TB, cfg broker.SetupConfig) (*server.Server, *broker.Handles) {
	t.Helper()
	s, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := broker.Setup(ctx, js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s, h
}
