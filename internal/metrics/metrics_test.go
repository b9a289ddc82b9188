package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/producer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	_ consumer.Metrics = (*Worker)(nil)
	_ producer.Metrics = (*Producer)(nil)
)

func TestServeExportsWhatWorkersAndProducersDo(t *testing.T) {
	reg := prometheus.NewRegistry()
	w, p := NewWorker(reg), NewProducer(reg)
	w.Attempt("ok", 30*time.Millisecond)
	w.Attempt("timeout", 2*time.Second)
	w.Init(time.Second)
	w.Outcome(true, 10, 0)
	w.Outcome(false, 7, 3)
	w.InFlight(2)
	w.InFlight(-1)
	w.Redelivery()
	w.Heartbeat()
	p.Listed(20)
	p.Published(2)
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := Serve(ctx, "127.0.0.1:0", reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`prs_worker_attempts_total{result="ok"} 1`,
		`prs_worker_attempts_total{result="timeout"} 1`,
		`prs_worker_mini_batches_total{result="failed"} 1`,
		`prs_worker_items_total{result="succeeded"} 17`,
		`prs_worker_items_total{result="failed"} 3`,
		`prs_worker_in_flight_mini_batches 1`,
		`prs_worker_redeliveries_total 1`,
		`prs_worker_heartbeats_total 1`,
		`prs_worker_init_duration_seconds_count 1`,
		`prs_worker_run_duration_seconds_count{result="timeout"} 1`,
		`prs_producer_objects_listed_total 20`,
		`prs_producer_mini_batches_published_total 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := http.Get("http://" + addr + "/metrics"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the metrics server did not stop")
		}
		time.Sleep(20 * time.Millisecond)
	}
	http.DefaultClient.CloseIdleConnections()
}
