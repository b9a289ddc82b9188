package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/exporter"
)

// queueMetrics are the exporter's fleet-wide figures.
type queueMetrics struct {
	up                         bool
	waiting, inFlight, desired int
}

// scrape reads the exporter's queue metrics once.
func scrape(url string) (queueMetrics, error) {
	var m queueMetrics
	resp, err := http.Get(url)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		seen[name] = true
		switch name {
		case exporter.MetricUp:
			m.up = v == 1
		case exporter.MetricWaiting:
			m.waiting = int(v)
		case exporter.MetricInFlight:
			m.inFlight = int(v)
		case exporter.MetricDesiredWorkers:
			m.desired = int(v)
		}
	}
	if err := sc.Err(); err != nil {
		return m, err
	}
	for _, n := range []string{exporter.MetricUp, exporter.MetricWaiting, exporter.MetricInFlight, exporter.MetricDesiredWorkers} {
		if !seen[n] {
			return m, fmt.Errorf("no %s in the exporter's metrics", n)
		}
	}
	return m, nil
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// member is a worker the test's controller started.
type member struct {
	name    string
	p       *proc
	stopped time.Time // when it was sent SIGTERM (zero: not yet)
	// squeezed is set when it was sent SIGTERM while batches waited: every
	// slot of it was busy.
	squeezed bool
	exited   time.Duration
}

// Scale from zero, join and leave, as an autoscaler does it: a job is
// submitted with no worker running; `prs exporter` reports its waiting
// mini-batches and the desired worker count; a controller in the test
// starts `prs worker` processes up to ceil((waiting + in flight) / slots)
// (the manifests' rule, capped at 3) and SIGTERMs the newest when there
// are more. Once a few batches are done the cap drops to 1 for a while (a
// budget or a spot reclaim): two workers busy with batches slower than
// their drain timeout are SIGTERMed and hand their batches back. The
// output is exact and no try is spent.
func TestAutoscaleFromZeroJoinAndLeave(t *testing.T) {
	h := newHarness(t)
	h.ackWait = "1m" // a batch left to time out would not finish within the wait
	// PRS_SCALE_ROUNDS (default 1; `go tool task scale-long` runs 5) scales
	// the job and the number of squeezes up.
	rounds := 1
	if v := os.Getenv("PRS_SCALE_ROUNDS"); v != "" {
		var err error
		if rounds, err = strconv.Atoi(v); err != nil || rounds < 1 {
			t.Fatalf("PRS_SCALE_ROUNDS=%q: want a count of at least 1", v)
		}
	}
	const slots, perBatch = 2, 2
	files := 36 * rounds
	h.upload("in", files)
	addr := freeAddr(t)
	h.start(nil, "exporter", "--nats", h.url(), "--metrics-addr", addr,
		"--slots-per-worker", strconv.Itoa(slots), "--max-workers", "3")
	url := "http://" + addr + "/metrics"
	var m queueMetrics
	eventually(t, 30*time.Second, "the exporter's first scrape", func() bool {
		var err error
		m, err = scrape(url)
		return err == nil && m.up
	})
	if m.waiting != 0 || m.desired != 0 {
		t.Fatalf("before the job: %+v, want nothing waiting and no worker wanted", m)
	}

	// Submit in the background: the controller runs meanwhile.
	submitted := time.Now()
	sub := exec.Command(prsBin, "submit", "--ack-wait", h.ackWait, "--input", h.s3("in"), "--output", h.s3("out"),
		"--entry-script", "testdata/score.py", "--allow-reuse=false", "--mini-batch-size", strconv.Itoa(perBatch),
		"--", "--state", h.state, "--sleep", "1.5")
	sub.Env = h.env()
	var subOut strings.Builder
	sub.Stdout, sub.Stderr = &subOut, io.Discard
	subDone := make(chan error, 1)
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { subDone <- sub.Wait() }()

	var (
		fleet, gone []*member
		firstStart  time.Duration
		queueSeen   time.Duration // the exporter first showed waiting batches
		firstWorker time.Duration // the controller started the first worker
		id          string
		maxFleet    int
		n           int
		squeezing   bool // the cap is 1 until the fleet is down to one worker
		squeezes    int  // squeezes ended
		nextAt      = int64(4)
		limit       = 3
	)
	deadline := time.Now().Add(time.Duration(rounds) * 90 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("the job did not end with the controller: last metrics %+v, fleet %d", m, len(fleet))
		}
		select {
		case err := <-subDone:
			if err != nil {
				t.Fatalf("prs submit: %v\n%s", err, subOut.String())
			}
			id = jobID(t, subOut.String())
			subDone = nil
		default:
		}
		if firstStart == 0 && len(h.lines("calls.log")) > 0 {
			firstStart = time.Since(submitted)
		}
		if !squeezing && squeezes < rounds && id != "" {
			if c, _ := h.h.ReadCounters(context.Background(), id); c.Done >= nextAt {
				squeezing, limit = true, 1
			}
		}
		// Workers that have exited leave the fleet.
		live := fleet[:0]
		for _, w := range fleet {
			select {
			case <-w.p.done:
				w.exited = time.Since(w.stopped)
				if w.stopped.IsZero() {
					t.Fatalf("worker %s exited unasked:\n%s", w.name, tail(readLog(w.p.log), 3000))
				}
				if code := w.p.cmd.ProcessState.ExitCode(); code != 0 {
					t.Fatalf("worker %s exited %d", w.name, code)
				}
				gone = append(gone, w)
			default:
				live = append(live, w)
			}
		}
		fleet = live
		if squeezing && len(fleet) == 1 { // the squeezed workers are gone
			squeezing, limit = false, 3
			squeezes++
			c, _ := h.h.ReadCounters(context.Background(), id)
			nextAt = c.Done + 6
		}
		var err error
		if m, err = scrape(url); err != nil || !m.up {
			t.Fatalf("scrape: %+v %v", m, err)
		}
		if queueSeen == 0 && m.waiting > 0 {
			queueSeen = time.Since(submitted)
		}
		want := min(m.desired, limit)
		running := 0
		for _, w := range fleet {
			if w.stopped.IsZero() {
				running++
			}
		}
		switch {
		case running < want:
			if len(fleet) == 0 && len(gone) == 0 && (m.waiting == 0 || m.inFlight != 0) {
				t.Fatalf("at zero workers the metrics are %+v, want waiting mini-batches and none in flight", m)
			}
			if n == 0 {
				firstWorker = time.Since(submitted)
			}
			n++
			w := &member{name: fmt.Sprintf("w%d", n)}
			w.p = h.workerArgs(slots, "--name", w.name, "--drain-timeout", "200ms")
			fleet = append(fleet, w)
		case running > want:
			for i := len(fleet) - 1; i >= 0; i-- {
				if w := fleet[i]; w.stopped.IsZero() {
					w.stopped, w.squeezed = time.Now(), squeezing && m.waiting > 0
					if err := w.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
		}
		maxFleet = max(maxFleet, len(fleet))
		if id != "" && len(fleet) == 0 && m.waiting == 0 && m.inFlight == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	st, c := h.wait(id, 10*time.Second)
	if st.State != contracts.StateCompleted || c.Retried != 0 || c.ItemsSucceeded != int64(files) || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(files, nil))
	h.checkNoTrySpent(id, int64(files/perBatch))
	if maxFleet < 3 || squeezes != rounds {
		t.Fatalf("the fleet grew to %d workers, %d of %d squeezes ended: the controller did not scale out and in", maxFleet, squeezes, rounds)
	}
	// Hand-backs of the batches of stopped workers: the ledger counts them,
	// the job report names their workers.
	back := 0
	for i := int64(0); i < int64(files/perBatch); i++ {
		d, err := h.ledger.Deliveries(context.Background(), id, i)
		if err != nil {
			t.Fatal(err)
		}
		back += d.HandedBack
	}
	if back == 0 {
		t.Fatal("no busy worker handed a batch back: the scale-in did not stop a busy worker")
	}
	// The job report holds every stopped attempt (a stopping worker puts
	// its logs before it exits), each on attempt 1 like the one that
	// finished its batch.
	stoppedRuns := 0
	for _, w := range gone {
		stoppedRuns += strings.Count(readLog(w.p.log), `attempted=true err="worker stopped"`)
	}
	handedBack := map[string]int{}
	eventually(t, 30*time.Second, fmt.Sprintf("%d stopped attempts in the job report", stoppedRuns), func() bool {
		clear(handedBack)
		rows := 0
		for _, r := range h.reportRows(h.s3("out")) {
			if r[11] == "WorkerStopped" {
				if r[1] != "1" {
					t.Fatalf("a stopped attempt on try %s: %v", r[1], r)
				}
				handedBack[r[2]]++
				rows++
			}
		}
		return rows == stoppedRuns
	})
	t.Logf("from prs submit to the first mini-batch started, fleet at zero: %s (waiting batches in the metrics at %s, first worker started at %s)",
		firstStart, queueSeen, firstWorker)
	t.Logf("%d batches handed back by SIGTERMed workers, none spent a try", back)
	for _, w := range gone {
		t.Logf("worker %s: SIGTERM to exit %s (stopped in a squeeze: %v; --drain-timeout 200ms, run() 1.5s), batches it handed back, in the report: %d",
			w.name, w.exited, w.squeezed, handedBack[w.name])
	}
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
