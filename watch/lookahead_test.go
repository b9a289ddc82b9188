package watch

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/producer"
)

// dupRecorder counts what a watch takes and the duplicates it finds.
type dupRecorder struct {
	lagRecorder
	dups int
}

func (r *dupRecorder) Duplicates(_ string, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dups += n
}

// Events that arrive together are looked up in the seen bucket together:
// a version taken into a mini-batch committed earlier in the same chunk, a
// version pending in it, and one taken by an earlier watch are all
// duplicates; a new version of a key is not.
func TestEventsTakenTogetherTakeEachVersionOnce(t *testing.T) {
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
	c.Input, c.Output, c.EntryScript, c.MiniBatchSize = filepath.Join(dir, "in"), filepath.Join(dir, "out"), script, "2"
	if err := os.Mkdir(c.Input, 0o755); err != nil {
		t.Fatal(err)
	}
	tmpl, err := p.Prepare(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	rec := &dupRecorder{}
	w, err := New(Config{Name: "dup", Template: tmpl, Producer: p, Ledger: l, Source: SourceEvents,
		Window: time.Hour, Lease: 3 * time.Second, Metrics: rec})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := setup(ctx, js, &w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	// d.txt's version was taken by an earlier watch.
	if _, err := hs.seen.Put(ctx, contracts.WatchSeenKey("dup", w.src.digest("d.txt", "e1")), []byte("earlier")); err != nil {
		t.Fatal(err)
	}
	// a and b fill a mini-batch, then a again (committed), c twice
	// (pending), d (taken before), c's new content.
	events := [][2]string{{"a.txt", "e1"}, {"b.txt", "e1"}, {"a.txt", "e1"}, {"c.txt", "e1"}, {"c.txt", "e1"}, {"d.txt", "e1"}, {"c.txt", "e2"}}
	for _, e := range events {
		b, _ := json.Marshal(contracts.NewS3CreatedEvent("", e[0], 1, e[1], time.Now()))
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
		taken, dups := rec.taken, rec.dups
		rec.mu.Unlock()
		if taken == 4 && dups == 3 {
			break
		}
		if taken > 4 || time.Now().After(deadline) {
			t.Fatalf("taken %d, duplicates %d; want 4 versions (a, b, c twice) and 3 duplicates", taken, dups)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, v := range [][2]string{{"a.txt", "e1"}, {"b.txt", "e1"}, {"c.txt", "e1"}, {"c.txt", "e2"}} {
		e, err := hs.seen.Get(ctx, contracts.WatchSeenKey("dup", w.src.digest(v[0], v[1])))
		if err != nil || string(e.Value()) == "earlier" {
			t.Errorf("%s %s not marked taken by this watch: %v", v[0], v[1], err)
		}
	}
}
