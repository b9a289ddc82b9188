package fleet_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// An embedded fleet keeps its files in a temporary folder that Close
// removes; a second fleet reaches the first one's server by its URL and
// finds prs set up there, with the ack wait it was made with.
func TestOpenEmbeddedThenConnect(t *testing.T) {
	ctx := context.Background()
	a, err := fleet.Open(ctx, fleet.Config{
		Broker: broker.OpenConfig{Embedded: &broker.EmbeddedConfig{}, Setup: broker.SetupConfig{AckWait: 7 * time.Second}},
		Worker: "a", Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	store := a.Server.StoreDir()
	if _, err := os.Stat(store); err != nil || a.URL == "" || a.Ledger.Worker != "a" {
		t.Fatalf("embedded fleet: store %s (%v), url %q, worker %q", store, err, a.URL, a.Ledger.Worker)
	}
	b, err := fleet.Open(ctx, fleet.Config{Broker: broker.OpenConfig{Connect: broker.ConnectConfig{URL: a.URL}}, Worker: "b", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if b.Server != nil || b.Handles.AckWait != 7*time.Second {
		t.Fatalf("connected fleet: server %v, ack wait %s", b.Server, b.Handles.AckWait)
	}
	if _, err := b.Handles.Jobs.Status(ctx); err != nil {
		t.Fatalf("the %s bucket: %v", contracts.JobBucket, err)
	}
	b.Close()
	a.Close()
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("Close left the temporary store %s (%v)", store, err)
	}
}

func TestOpenWithoutAServer(t *testing.T) {
	if _, err := fleet.Open(context.Background(), fleet.Config{Worker: "w", Logger: quiet()}); !errors.Is(err, broker.ErrNoServer) {
		t.Fatalf("no URL and no embedded server: %v", err)
	}
}
