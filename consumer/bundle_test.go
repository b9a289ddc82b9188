package consumer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/producer"
)

// bundle is what a test of the runtime needs: an embedded JetStream server,
// a ledger, a producer, and local input and output folders.
type bundle struct {
	t      testing.TB
	srv    *server.Server
	h      *broker.Handles
	ledger *ledger.Ledger
	prod   *producer.Producer
	input  string
	output string
}

func quietLogger() *slog.Logger {
	if os.Getenv("PRS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newBundle(t testing.TB, files int) *bundle {
	t.Helper()
	return newBundleAck(t, files, 2*time.Second)
}

// newBundleAck is newBundle with the workers' consumer's AckWait.
func newBundleAck(t testing.TB, files int, ackWait time.Duration) *bundle {
	t.Helper()
	log := quietLogger()
	f, err := fleet.Open(context.Background(), fleet.Config{
		Broker: broker.OpenConfig{Embedded: &broker.EmbeddedConfig{StoreDir: t.TempDir()}, Setup: broker.SetupConfig{AckWait: ackWait}},
		Worker: "test", Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	srv, h, l := f.Server, f.Handles, f.Ledger
	l.Lease = 3 * time.Second
	p, err := producer.New(producer.Config{Ledger: l, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, srv: srv, h: h, ledger: l, prod: p, input: t.TempDir(), output: filepath.Join(t.TempDir(), "out")}
	for i := 0; i < files; i++ {
		name := filepath.Join(b.input, fmt.Sprintf("f%05d.txt", i))
		if err := os.WriteFile(name, []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// config returns a job config for the test handler.
func (b *bundle) config(perBatch int) contracts.Config {
	c := contracts.DefaultConfig()
	c.Handler = "test"
	c.Input, c.Output = b.input, b.output
	c.MiniBatchSize = fmt.Sprint(perBatch)
	c.AllowReuse = false
	return c
}

// worker starts a worker running h.
func (b *bundle) worker(slots int, h consumer.Handler) *consumer.Worker {
	b.t.Helper()
	return b.workerWith(slots, h, func(*consumer.Config) {})
}

// workerWith starts a worker whose configuration edit changes first.
func (b *bundle) workerWith(slots int, h consumer.Handler, edit func(*consumer.Config)) *consumer.Worker {
	b.t.Helper()
	cfg := consumer.Config{
		Ledger:   b.ledger,
		Handlers: map[string]consumer.HandlerFactory{"test": func(context.Context, *consumer.JobEnv) (consumer.Handler, error) { return h, nil }},
		Slots:    slots, Logger: quietLogger(), RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		PollWait: 100 * time.Millisecond,
	}
	edit(&cfg)
	w, err := consumer.New(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	})
	return w
}

// run submits c and waits for the job to end.
func (b *bundle) run(c contracts.Config) (string, contracts.JobState, contracts.Counters) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := b.prod.Submit(ctx, "", c)
	if err != nil {
		b.t.Fatal(err)
	}
	st, err := b.ledger.Follow(ctx, sub.Job.ID, 20*time.Millisecond, nil)
	if err != nil {
		b.t.Fatalf("job %s did not end: %v (state %+v)", sub.Job.ID, err, st)
	}
	cs, err := b.h.ReadCounters(ctx, sub.Job.ID)
	if err != nil {
		b.t.Fatal(err)
	}
	return sub.Job.ID, st, cs
}

// rows reads the final file's lines.
func (b *bundle) rows(name string) []string {
	b.t.Helper()
	data, err := os.ReadFile(filepath.Join(b.output, name))
	if err != nil {
		b.t.Fatal(err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// calls counts handler calls per batch index.
type calls struct {
	mu sync.Mutex
	n  map[int64]int
}

func (c *calls) add(i int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int64]int{}
	}
	c.n[i]++
	return c.n[i]
}

func (c *calls) get(i int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[i]
}

// stopAndLoseQueue waits until job id has done batches mini-batches, stops
// w and purges the job's queued messages, as a producer that died before
// publishing them all would leave it; it returns the counters then.
func (b *bundle) stopAndLoseQueue(ctx context.Context, id string, w *consumer.Worker, batches int64) contracts.Counters {
	b.t.Helper()
	for {
		cs, err := b.h.ReadCounters(ctx, id)
		if err != nil {
			b.t.Fatal(err)
		}
		if cs.Done >= batches {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := w.Stop(ctx); err != nil {
		b.t.Fatal(err)
	}
	if err := b.h.Batches.Purge(ctx, jetstream.WithPurgeSubject(contracts.BatchSubject(id))); err != nil {
		b.t.Fatal(err)
	}
	cs, err := b.h.ReadCounters(ctx, id)
	if err != nil {
		b.t.Fatal(err)
	}
	return cs
}
