package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/broker"
)

// prs exporter serves the queue's metrics until it is stopped, and exits 0.
func TestExporterCommandServesUntilStopped(t *testing.T) {
	s, err := broker.StartEmbedded(broker.EmbeddedConfig{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Shutdown(); s.WaitForShutdown() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"exporter", "--nats", s.ClientURL(), "--metrics-addr", "127.0.0.1:0", "--slots-per-worker", "4"}, w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v", err)
	}
	url := strings.TrimSpace(strings.TrimPrefix(line, "prs exporter: "))
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"prs_exporter_up 1", "prs_queue_desired_workers 0", "prs_queue_slots_per_worker 4"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	cancel()
	go io.Copy(io.Discard, out)
	select {
	case c := <-code:
		if c != exitOK {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("prs exporter did not stop within 10s of its context")
	}
}

func TestExporterCommandRefusesBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"exporter", "--nats", "nats://127.0.0.1:1", "--slots-per-worker", "0"},
		{"exporter", "--nats", "nats://127.0.0.1:1", "--max-workers", "-1"},
		{"exporter", "--nats", "nats://127.0.0.1:1", "extra"},
	} {
		var errb strings.Builder
		if c := run(context.Background(), args, io.Discard, &errb); c != exitUsage || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, c, errb.String())
		}
	}
}
