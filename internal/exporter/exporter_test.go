package exporter_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/exporter"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/metrics"
	"github.com/parallelrun/prs/producer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fleet is an embedded JetStream under README's "NATS permissions" block:
// prs-admin sets the fleet up, the exporter reads as prs-exporter, with
// exactly the permissions README gives it; prs-worker takes mini-batches.
type fleet struct {
	srv    *server.Server
	admin  jetstream.JetStream
	worker jetstream.JetStream
	exp    jetstream.JetStream
}

func startFleet(t *testing.T) *fleet {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### NATS permissions\n")
	_, block, ok2 := strings.Cut(sec, "\n```conf\n")
	block, _, ok3 := strings.Cut(block, "\n```\n")
	if !ok || !ok2 || !ok3 {
		t.Fatal("README has no conf block under NATS permissions")
	}
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("README's permissions do not load: %v", err)
	}
	o.JetStream, o.StoreDir, o.Host, o.Port, o.NoSigs, o.NoLog = true, t.TempDir(), "127.0.0.1", -1, true, true
	s, err := server.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return &fleet{srv: s, admin: connect(t, s, "prs-admin", "change-me-admin"),
		worker: connect(t, s, "prs-worker", "change-me-worker"), exp: connect(t, s, "prs-exporter", "change-me-exporter")}
}

func connect(t *testing.T, s *server.Server, user, pw string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(user, pw), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// serve starts an exporter on js and returns its /metrics URL.
func serve(t *testing.T, cfg exporter.Config) string {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := exporter.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e)
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := metrics.Serve(ctx, "127.0.0.1:0", reg, cfg.Logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); e.Close() })
	return "http://" + addr + "/metrics"
}

// scrape reads the metrics as `name{labels}` → value, labels as printed.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func submit(t *testing.T, p *producer.Producer, id string, files, nodes int) {
	t.Helper()
	in := t.TempDir()
	for i := range files {
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("f%03d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := contracts.DefaultConfig()
	c.Handler, c.Input, c.Output, c.MiniBatchSize, c.NodeCount = "test", in, filepath.Join(t.TempDir(), "out"), "1", nodes
	if _, err := p.Submit(context.Background(), id, c); err != nil {
		t.Fatal(err)
	}
}

// expect checks the named series; a negative want means "absent".
func expect(t *testing.T, got map[string]float64, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		switch {
		case w < 0 && ok:
			t.Errorf("%s = %v, want it absent", k, g)
		case w >= 0 && !ok:
			t.Errorf("%s missing", k)
		case w >= 0 && g != w:
			t.Errorf("%s = %v, want %v", k, g, w)
		}
	}
}

func TestExporterReportsQueueAndJobsWithNoWorkerRunning(t *testing.T) {
	f := startFleet(t)
	ctx := context.Background()
	h, err := broker.Setup(ctx, f.admin, broker.SetupConfig{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := ledger.New(h, &ledger.Stores{}, "test", log)
	p, err := producer.New(producer.Config{Ledger: l, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, exporter.Config{JS: f.exp, SlotsPerWorker: 3})

	// Two jobs queued, nothing taken yet: all waiting.
	submit(t, p, "alpha", 10, 3)
	submit(t, p, "beta", 5, 1)
	expect(t, scrape(t, url), map[string]float64{
		`prs_exporter_up`:                                    1,
		`prs_queue_waiting_mini_batches`:                     15,
		`prs_queue_in_flight_mini_batches`:                   0,
		`prs_queue_desired_workers`:                          5,
		`prs_queue_slots_per_worker`:                         3,
		`prs_job_waiting_mini_batches{job_id="alpha"}`:       10,
		`prs_job_waiting_mini_batches{job_id="beta"}`:        5,
		`prs_job_in_flight_mini_batches{job_id="alpha"}`:     0,
		`prs_job_node_count{job_id="alpha"}`:                 3,
		`prs_job_node_count{job_id="beta"}`:                  1,
		`prs_job_state{job_id="alpha",state="Running"}`:      1,
		`prs_job_state{job_id="alpha",state="Completed"}`:    0,
		`prs_job_state{job_id="beta",state="Running"}`:       1,
		`prs_job_waiting_mini_batches{job_id="gamma"}`:       -1,
		`prs_job_state{job_id="gamma",state="Cancelled"}`:    -1,
		`prs_job_in_flight_mini_batches{job_id="beta"}`:      0,
		`prs_job_waiting_mini_batches{job_id="nonexistent"}`: -1,
	})

	// A third job, cancelled: its mini-batches are purged, its state stays.
	submit(t, p, "gamma", 3, 2)
	if _, err := l.Stop(ctx, "gamma", contracts.StateCancelled, "cancelled by the user"); err != nil {
		t.Fatal(err)
	}

	// A worker's pull consumer takes 12 (alpha's 10 and beta's first 2),
	// acknowledges 4 of alpha's and sends one of beta's back with a delay.
	cons, err := f.worker.Consumer(ctx, contracts.BatchStream, contracts.WorkerConsumer)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.FetchNoWait(12)
	if err != nil {
		t.Fatal(err)
	}
	var taken []jetstream.Msg
	for m := range msgs.Messages() {
		taken = append(taken, m)
	}
	if len(taken) != 12 {
		t.Fatalf("fetched %d messages, want 12", len(taken))
	}
	for _, m := range taken[:4] {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := taken[11].NakWithDelay(time.Hour); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { // the Nak is fire-and-forget
		ci, err := h.Consumer.Info(ctx)
		return err == nil && ci.NumRedelivered == 0 && ci.NumAckPending == 8
	})
	expect(t, scrape(t, url), map[string]float64{
		`prs_exporter_up`:                                 1,
		`prs_queue_waiting_mini_batches`:                  3,
		`prs_queue_in_flight_mini_batches`:                8,
		`prs_queue_desired_workers`:                       4, // ceil(11/3)
		`prs_job_waiting_mini_batches{job_id="alpha"}`:    0,
		`prs_job_in_flight_mini_batches{job_id="alpha"}`:  6,
		`prs_job_waiting_mini_batches{job_id="beta"}`:     3,
		`prs_job_in_flight_mini_batches{job_id="beta"}`:   2,
		`prs_job_waiting_mini_batches{job_id="gamma"}`:    0,
		`prs_job_in_flight_mini_batches{job_id="gamma"}`:  0,
		`prs_job_node_count{job_id="gamma"}`:              2,
		`prs_job_state{job_id="gamma",state="Cancelled"}`: 1,
		`prs_job_state{job_id="gamma",state="Running"}`:   0,
	})

	// The exporter only reads: its user could not have made anything, and
	// the stream still holds exactly the 11 mini-batches left.
	info, err := h.Batches.Info(ctx)
	if err != nil || info.State.Msgs != 11 {
		t.Fatalf("stream after scrapes: %+v, %v", info, err)
	}

	// Everything done: the queue reads 0 and so does the desired count.
	for _, m := range taken[4:11] { // the Nak'd one goes with the purge
		if err := m.Term(); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Batches.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		ci, err := h.Consumer.Info(ctx)
		return err == nil && ci.NumAckPending == 0 && ci.NumPending == 0
	})
	expect(t, scrape(t, url), map[string]float64{
		`prs_queue_waiting_mini_batches`:                 0,
		`prs_queue_in_flight_mini_batches`:               0,
		`prs_queue_desired_workers`:                      0,
		`prs_job_in_flight_mini_batches{job_id="alpha"}`: 0,
		`prs_job_waiting_mini_batches{job_id="beta"}`:    0,
	})
}

// A fleet nobody has set up yet has an empty queue, and the exporter makes
// nothing: with its rights it could not, and it must not try.
func TestExporterOnAFleetNotSetUp(t *testing.T) {
	f := startFleet(t)
	url := serve(t, exporter.Config{JS: f.exp})
	expect(t, scrape(t, url), map[string]float64{
		`prs_exporter_up`:                  1,
		`prs_queue_waiting_mini_batches`:   0,
		`prs_queue_in_flight_mini_batches`: 0,
		`prs_queue_desired_workers`:        0,
		`prs_queue_slots_per_worker`:       1,
	})
	if _, err := f.admin.Stream(context.Background(), contracts.BatchStream); err != jetstream.ErrStreamNotFound {
		t.Fatalf("stream after a scrape: %v", err)
	}
	// Mini-batches published before any worker consumer exists are waiting.
	if _, err := f.admin.CreateStream(context.Background(), jetstream.StreamConfig{
		Name: contracts.BatchStream, Subjects: []string{contracts.BatchSubjects}, Retention: jetstream.WorkQueuePolicy,
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := f.admin.Publish(context.Background(), contracts.BatchSubject("early"), fmt.Appendf(nil, `{"index":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, scrape(t, url), map[string]float64{
		`prs_exporter_up`:                              1,
		`prs_queue_waiting_mini_batches`:               4,
		`prs_queue_desired_workers`:                    4,
		`prs_job_waiting_mini_batches{job_id="early"}`: 4,
	})
}

// When JetStream cannot be read the exporter says so and reports no queue
// figures at all, so that no autoscaler reads a 0 and scales the fleet in.
func TestExporterReportsNothingWhenJetStreamIsGone(t *testing.T) {
	f := startFleet(t)
	if _, err := broker.Setup(context.Background(), f.admin, broker.SetupConfig{}); err != nil {
		t.Fatal(err)
	}
	url := serve(t, exporter.Config{JS: f.exp, Timeout: time.Second})
	expect(t, scrape(t, url), map[string]float64{`prs_exporter_up`: 1, `prs_queue_desired_workers`: 0})
	f.srv.Shutdown()
	f.srv.WaitForShutdown()
	expect(t, scrape(t, url), map[string]float64{
		`prs_exporter_up`:                  0,
		`prs_queue_waiting_mini_batches`:   -1,
		`prs_queue_in_flight_mini_batches`: -1,
		`prs_queue_desired_workers`:        -1,
	})
}

func TestDesiredWorkers(t *testing.T) {
	for _, c := range []struct {
		waiting, inFlight int64
		slots, max        int
		want              int64
	}{
		{0, 0, 4, 0, 0},
		{1, 0, 4, 0, 1},
		{4, 0, 4, 0, 1},
		{4, 1, 4, 0, 2},
		{0, 3, 4, 0, 1}, // busy workers are kept
		{100, 0, 4, 10, 10},
		{7, 0, 0, 0, 7}, // slots below 1 count as 1
	} {
		if got := exporter.DesiredWorkers(c.waiting, c.inFlight, c.slots, c.max); got != c.want {
			t.Errorf("DesiredWorkers(%d, %d, %d, %d) = %d, want %d", c.waiting, c.inFlight, c.slots, c.max, got, c.want)
		}
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	js := startFleet(t).exp
	for field, c := range map[string]exporter.Config{
		"JS":             {},
		"SlotsPerWorker": {JS: js, SlotsPerWorker: -1},
		"MaxWorkers":     {JS: js, MaxWorkers: -2},
		"KeepEnded":      {JS: js, KeepEnded: -time.Second},
	} {
		_, err := exporter.New(c)
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("New with a bad %s: %v", field, err)
		}
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
