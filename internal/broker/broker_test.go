package broker

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T) *Handles {
	t.Helper()
	s, err := StartEmbedded(EmbeddedConfig{StoreDir: t.TempDir()})
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
	h, err := Setup(ctx, js, SetupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	// Idempotent.
	if _, err := Setup(ctx, js, SetupConfig{AckWait: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestIncrCountsEachIDOnce(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	if v, err := h.Counter(ctx, "j1", "done"); err != nil || v != 0 {
		t.Fatalf("fresh counter = %d, %v", v, err)
	}
	for i, want := range []int64{3, -1, 5, -1} {
		id := []string{"a", "a", "b", "b"}[i]
		n := []int64{3, 3, 2, 2}[i]
		got, err := h.Incr(ctx, "j1", "done", n, id)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("incr %d: got %d want %d", i, got, want)
		}
	}
	v, err := h.Counter(ctx, "j1", "done")
	if err != nil || v != 5 {
		t.Fatalf("counter = %d, %v; want 5", v, err)
	}
	c, err := h.ReadCounters(ctx, "j1")
	if err != nil || c.Done != 5 || c.ItemsFailed != 0 {
		t.Fatalf("counters = %+v, %v", c, err)
	}
}

func TestSetupKeepsTheFleetsAckWaitUnlessAsked(t *testing.T) {
	t.Parallel()
	h := setup(t) // created with the default, then set to 5s
	ctx := context.Background()
	if h.AckWait != DefaultAckWait {
		t.Fatalf("first setup: %s", h.AckWait)
	}
	again, err := Setup(ctx, h.JS, SetupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if again.AckWait != 5*time.Second {
		t.Fatalf("a setup without AckWait changed it to %s", again.AckWait)
	}
	if again.HeartbeatEvery() != 5*time.Second/3 {
		t.Fatalf("heartbeat %s", again.HeartbeatEvery())
	}
	set, err := Setup(ctx, h.JS, SetupConfig{AckWait: time.Minute})
	if err != nil || set.AckWait != time.Minute || set.HeartbeatEvery() != 5*time.Second {
		t.Fatalf("%v %v", set, err)
	}
}
