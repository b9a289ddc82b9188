package watch

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/producer"
)

// lagRecorder keeps what a watch reports.
type lagRecorder struct {
	mu      sync.Mutex
	waiting []int64
	oldest  []time.Duration
	taken   int
}

func (r *lagRecorder) Lag(_ string, waiting int64, oldest time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waiting, r.oldest = append(r.waiting, waiting), append(r.oldest, oldest)
}

func (r *lagRecorder) Taken(_ string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taken += n
}

func (r *lagRecorder) Duplicates(string, int) {}

// Events that wait in the stream are reported as the watch's lag, with the
// age of the oldest; once taken into a closed window they no longer wait.
func TestWatchReportsItsLag(t *testing.T) {
	t.Parallel()
	srv, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	h, err := broker.Setup(ctx, js, broker.SetupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	l := ledger.New(h, &ledger.Stores{}, "test", nil)
	p, err := producer.New(producer.Config{Ledger: l})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "s.py")
	if err := os.WriteFile(script, []byte("def init():\n    pass\n\ndef run(b):\n    return b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := contracts.DefaultConfig()
	c.Input, c.Output, c.EntryScript = filepath.Join(dir, "in"), filepath.Join(dir, "out"), script
	if err := os.Mkdir(c.Input, 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl, err := p.Prepare(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	rec := &lagRecorder{}
	w, err := New(Config{Name: "lag", Template: tmpl, Producer: p, Ledger: l, Source: SourceEvents,
		Window: time.Second, Lease: 3 * time.Second, Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup(ctx, js, &w.cfg); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a.txt", "b.txt", "c.txt"} {
		b, _ := json.Marshal(contracts.NewS3CreatedEvent("", k, 1, "e-"+k, time.Now()))
		if _, err := js.Publish(ctx, w.cfg.Subject, b); err != nil {
			t.Fatal(err)
		}
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.waiting)
		settled := n > 1 && rec.waiting[n-1] == 0 && rec.taken == 3
		first, firstAge := int64(-1), time.Duration(0)
		if n > 0 {
			first, firstAge = rec.waiting[0], rec.oldest[0]
		}
		rec.mu.Unlock()
		if n > 0 && (first != 3 || firstAge <= 0) {
			t.Fatalf("first lag report: %d waiting, oldest %s; want 3 and an age", first, firstAge)
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag reports %v, taken %d: the events were not taken", rec.waiting, rec.taken)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st, _, err := l.State(ctx, contracts.WindowJobID("lag", 1)); err != nil || !st.Sealed || st.TotalItems != 3 {
		t.Fatalf("window 1: %+v %v", st, err)
	}
}
