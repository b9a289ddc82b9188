package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
)

// chaosForm is the size of a chaos run. The short form runs in every `go
// test ./...`; the long form runs with PRS_CHAOS_LONG=1 (`go tool task
// chaos-long`).
type chaosForm struct {
	name           string
	items, batch   int
	workers, slots int
	sleep          string        // seconds each run() sleeps
	every          time.Duration // between two faults, at most
	timeout        time.Duration // for one job to end
}

var (
	chaosShort = chaosForm{name: "short", items: 10000, batch: 40, workers: 4, slots: 2, sleep: "0.2",
		every: 4 * time.Second, timeout: 4 * time.Minute}
	chaosLong = chaosForm{name: "long", items: 50000, batch: 50, workers: 6, slots: 2, sleep: "0.5",
		every: 3 * time.Second, timeout: 20 * time.Minute}
)

// chaosFailSuffix ends the names of the items that fail deterministically:
// run() returns no row for them (1% of the items).
const chaosFailSuffix = "00.txt"

// chaosMaxTry is the jobs' run_max_try. A delivery lost with a killed,
// stopped or disconnected worker spends a try (README, "Tries"), so under
// the default of 3 a batch hit by three faults would fail by design, and
// the chaos run's counts would depend on where the faults fell. This run
// checks that faults lose and duplicate nothing, so it gives every batch
// enough tries.
const chaosMaxTry = "20"

// TestChaos runs one job of at least 10,000 items twice over a real MinIO
// and a JetStream server that the workers reach over TCP: calm, then while
// a driver SIGKILLs random workers every few seconds (starting
// replacements), SIGSTOPs one worker with its scripts past the ack wait
// and lets it go on, restarts the JetStream server and restarts MinIO. The
// chaos run must end as the calm one did: the same state and reason, the
// same outcome for every mini-batch, the same counters and the same final
// file, one row per successful item, none twice, none missing. It does so
// for an error_threshold the job stays under (it completes) and one it
// goes over (it fails).
func TestChaos(t *testing.T) {
	form := chaosShort
	if os.Getenv("PRS_CHAOS_LONG") != "" {
		form = chaosLong
	}
	h := newHarnessOn(t, miniotest.Start(t))
	start := time.Now()
	h.uploadMany("in", form.items)
	t.Logf("chaos (%s form): uploaded %d files in %s", form.name, form.items, time.Since(start).Round(time.Millisecond))
	failing := len(names(form.items, func(n string) bool { return !strings.HasSuffix(n, chaosFailSuffix) }))
	for _, tc := range []struct {
		name      string
		threshold int
		want      string
	}{
		{"under the threshold", failing, contracts.StateCompleted},
		{"over the threshold", failing/2 - 1, contracts.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &chaosJob{h: h, t: t, form: form, threshold: tc.threshold}
			calm := c.run("calm", nil)
			if calm.st.State != tc.want {
				t.Fatalf("the calm run ended %s (%s), want %s", calm.st.State, calm.st.Reason, tc.want)
			}
			chaos := c.run("chaos", c.drive)
			c.compare(calm, chaos)
		})
	}
}

// chaosJob runs the chaos test's job and checks what it left.
type chaosJob struct {
	h         *harness
	t         *testing.T
	form      chaosForm
	threshold int
}

// jobRun is what one run of the job left.
type jobRun struct {
	name     string
	id       string
	st       contracts.JobState
	c        contracts.Counters
	took     time.Duration
	rows     []string
	outcomes []contracts.BatchOutcome
	state    string   // the folder of runs.log
	runs     []string // runs.log: "start|end WORKER_PID FIRST_FILE"
	faults   faultCounts
	workers  map[int]string // worker name by pid
}

// run submits the job to a fresh fleet and follows it to its end; drive,
// when not nil, injects faults meanwhile (it returns when ctx ends).
func (c *chaosJob) run(name string, drive func(ctx context.Context, f *fleet, r *jobRun)) *jobRun {
	t, h := c.t, c.h
	state := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &jobRun{name: name, state: state}
	out := h.s3(fmt.Sprintf("out-%d-%s", c.threshold, name))
	f := newFleet(h, c.form.workers, c.form.slots)
	start := time.Now()
	stdout, stderr, code := h.prs(time.Minute, "submit", "--ack-wait", h.ackWait, "--input", h.s3("in"), "--output", out,
		"--entry-script", "testdata/chaos.py", "--allow-reuse=false", "--mini-batch-size", strconv.Itoa(c.form.batch),
		"--error-threshold", strconv.Itoa(c.threshold), "--run-max-try", chaosMaxTry,
		"--", "--state", state, "--sleep", c.form.sleep, "--fail-suffix", chaosFailSuffix)
	if code != 0 {
		t.Fatalf("prs submit exited %d:\n%s%s", code, stdout, stderr)
	}
	r.id = jobID(t, stdout)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	stopDriver := func() { cancel(); wg.Wait() }
	defer stopDriver() // also when the wait below fails the test
	if drive != nil {
		wg.Add(1)
		go func() { defer wg.Done(); drive(ctx, f, r) }()
	}
	r.st, r.c = h.wait(r.id, c.form.timeout)
	r.took = time.Since(start)
	stopDriver()
	if r.st.State == contracts.StateCompleted {
		c.drained(r.id)
	}
	f.stopAll()
	for _, u := range f.unexpected() {
		t.Error(u)
	}
	r.workers = f.names
	r.outcomes = c.outcomes(r)
	if r.st.State == contracts.StateCompleted {
		r.rows = h.rows(out)
	} else if _, ok := h.read(out, "parallel_run_step.txt"); ok {
		t.Errorf("%s run: the failed job wrote its final file", name)
	}
	b, _ := os.ReadFile(filepath.Join(state, "runs.log"))
	r.runs = strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	return r
}

// drive is the chaos driver of a run.
func (c *chaosJob) drive(ctx context.Context, f *fleet, r *jobRun) {
	st, _, err := c.h.ledger.State(ctx, r.id)
	if err != nil {
		c.t.Errorf("reading the job's total: %v", err)
		return
	}
	d := &driver{h: c.h, f: f, state: r.state, every: c.form.every, stopFor: 3 * c.ackWait(), down: time.Second}
	// The faults of the schedule fall before the job's expected end: its
	// last batch, or, for a job that goes over its threshold, about the
	// batch whose failed item crosses it (failed items are spread evenly).
	horizon := st.TotalBatches
	if failing := c.form.items / 100; c.threshold < failing {
		horizon = horizon * int64(c.threshold+1) / int64(failing)
	}
	d.run(ctx, r.id, horizon*4/5)
	r.faults = d.counts
	for _, e := range d.errs {
		c.t.Error(e)
	}
}

// drained waits until the work queue holds no message of the job: every
// delivery of a completed job was acked.
func (c *chaosJob) drained(id string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		info, err := c.h.h.Batches.Info(ctx, jetstream.WithSubjectFilter(contracts.BatchSubject(id)))
		cancel()
		if err == nil && len(info.State.Subjects) == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Errorf("messages of the completed job %s are still queued: %v (%v)", id, info.State.Subjects, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outcomes reads every mini-batch's recorded outcome (a zero one where none
// is) and checks that each recorded one was counted.
func (c *chaosJob) outcomes(r *jobRun) []contracts.BatchOutcome {
	out := make([]contracts.BatchOutcome, r.st.TotalBatches)
	for i := range out {
		o, _, ok, err := c.h.ledger.Outcome(context.Background(), r.id, int64(i))
		if err != nil {
			c.t.Fatal(err)
		}
		if ok && !o.Counted {
			c.t.Errorf("%s run: the outcome of batch %d was never counted: %+v", r.name, i, o)
		}
		if !ok {
			o.Index = -1
		}
		out[i] = o
	}
	return out
}
