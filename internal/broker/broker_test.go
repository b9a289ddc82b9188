package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/broker/brokertest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func setup(t *testing.T) *broker.Handles {
	t.Helper()
	_, h := brokertest.Start(t, broker.SetupConfig{})
	// Idempotent, and it may set the fleet's AckWait.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := broker.Setup(ctx, h.JS, broker.SetupConfig{AckWait: 5 * time.Second}); err != nil {
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
	if h.AckWait != broker.DefaultAckWait {
		t.Fatalf("first setup: %s", h.AckWait)
	}
	again, err := broker.Setup(ctx, h.JS, broker.SetupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if again.AckWait != 5*time.Second {
		t.Fatalf("a setup without AckWait changed it to %s", again.AckWait)
	}
	if again.HeartbeatEvery() != 5*time.Second/3 {
		t.Fatalf("heartbeat %s", again.HeartbeatEvery())
	}
	set, err := broker.Setup(ctx, h.JS, broker.SetupConfig{AckWait: time.Minute})
	if err != nil || set.AckWait != time.Minute || set.HeartbeatEvery() != 5*time.Second {
		t.Fatalf("%v %v", set, err)
	}
}

// TestIncrsSendsTheLastOnlyOnceTheOthersAreStored: when one of the first
// increments is refused, the last (the done count, which ends a job judged
// on the others) is not counted.
func TestIncrsSendsTheLastOnlyOnceTheOthersAreStored(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	vals, err := h.Incrs(ctx, "j1", "0", []broker.Increment{{Counter: "items_succeeded", N: 2}, {Counter: "done", N: 1}})
	if err != nil || len(vals) != 2 || vals[0] != 2 || vals[1] != 1 {
		t.Fatalf("Incrs = %v, %v; want [2 1]", vals, err)
	}
	// The stream refuses a message over its size limit: an increment whose
	// id header is long is refused, the short ones are taken.
	info, err := h.Counters.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.Config
	cfg.MaxMsgSize = 256
	if _, err := h.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300)
	if _, err := h.Incrs(ctx, "j1", "1", []broker.Increment{{Counter: "items_failed", N: 1}, {Counter: long, N: 1}, {Counter: "done", N: 1}}); err == nil {
		t.Fatal("Incrs with a refused increment succeeded")
	}
	if v, err := h.Counter(ctx, "j1", "done"); err != nil || v != 1 {
		t.Fatalf("done = %d, %v after a refused increment; want 1 (the last not sent)", v, err)
	}
	// Sent again (the refused one left out), each counts once.
	vals, err = h.Incrs(ctx, "j1", "1", []broker.Increment{{Counter: "items_failed", N: 1}, {Counter: "done", N: 1}})
	if err != nil || vals[0] != -1 || vals[1] != 2 {
		t.Fatalf("Incrs again = %v, %v; want [-1 2]", vals, err)
	}
}
