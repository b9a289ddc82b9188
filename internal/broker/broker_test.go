package broker_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/contracts"
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

// An outcome is counted with one increment of the outcomes counter, once
// per id; the readers add the counters that versions before it kept.
func TestCountOutcomeCountsEachIDOnceAndAddsTheLegacyCounters(t *testing.T) {
	t.Parallel()
	h := setup(t)
	ctx := context.Background()
	ok := contracts.OutcomeCounts{Done: 1, ItemsSucceeded: 3}
	bad := contracts.OutcomeCounts{Done: 1, FailedBatches: 1, ItemsFailed: 2, ItemsSucceeded: 1}
	for i, step := range []struct {
		id   string
		c    contracts.OutcomeCounts
		want contracts.OutcomeCounts
		dup  bool
	}{
		{"0", ok, ok, false},
		{"0", ok, contracts.OutcomeCounts{}, true},
		{"1", bad, ok.Add(bad), false},
		{"1", ok, contracts.OutcomeCounts{}, true},
	} {
		got, dup, err := h.CountOutcome(ctx, "j1", step.id, step.c)
		if err != nil || got != step.want || dup != step.dup {
			t.Fatalf("count %d: %+v dup %v, %v; want %+v dup %v", i, got, dup, err, step.want, step.dup)
		}
	}
	// A job that a version before counted in part: its done counter and
	// the others add to the outcomes counter's.
	for _, c := range []string{"done", "items_succeeded", "items_failed"} {
		if _, err := h.Incr(ctx, "j1", c, 10, "legacy"); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := h.Counter(ctx, "j1", "done"); err != nil || v != 12 {
		t.Fatalf("done = %d, %v; want 12", v, err)
	}
	if v, err := h.LegacyCounter(ctx, "j1", "done"); err != nil || v != 10 {
		t.Fatalf("legacy done = %d, %v; want 10", v, err)
	}
	c, err := h.ReadCounters(ctx, "j1")
	want := contracts.Counters{Done: 12, FailedBatches: 1, ItemsSucceeded: 14, ItemsFailed: 12}
	if err != nil || c != want {
		t.Fatalf("counters = %+v, %v; want %+v", c, err, want)
	}
	// A count that does not fit is refused before it is sent.
	if _, _, err := h.CountOutcome(ctx, "j1", "2", contracts.OutcomeCounts{Done: -1}); err == nil {
		t.Fatal("a negative count was sent")
	}
}

// An outcome's increment sent again after JetStream restarted (its worker
// retried the count, or the batch came back) is still a duplicate: the
// server rebuilds its dedup window from the increments the counter stream
// keeps, so it keeps each one, not only a counter's last (with one kept per
// subject, the re-sent increment of batch 0 counted again).
func TestCountOutcomeDedupOutlivesARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	open := func() *broker.Session {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := broker.Open(ctx, broker.OpenConfig{
			Connect:  broker.ConnectConfig{Logger: slog.New(slog.DiscardHandler)},
			Embedded: &broker.EmbeddedConfig{StoreDir: dir},
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	one := contracts.OutcomeCounts{Done: 1, ItemsSucceeded: 1}
	s := open()
	for _, id := range []string{"0", "1", "2"} {
		if _, dup, err := s.Handles.CountOutcome(ctx, "j", id, one); err != nil || dup {
			t.Fatalf("count %s: dup %v, %v", id, dup, err)
		}
	}
	s.Close()
	s = open()
	defer s.Close()
	for _, id := range []string{"0", "2"} {
		if _, dup, err := s.Handles.CountOutcome(ctx, "j", id, one); err != nil || !dup {
			t.Fatalf("count %s again after a restart: dup %v, %v; want a duplicate", id, dup, err)
		}
	}
	if c, err := s.Handles.ReadCounters(ctx, "j"); err != nil || c.Done != 3 || c.ItemsSucceeded != 3 {
		t.Fatalf("counters %+v, %v; want 3 done", c, err)
	}
}
