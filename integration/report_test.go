package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// reportRow is a row of processed_mini-batches.csv.
type reportRow struct {
	index   int64
	attempt int
	worker  string
	result  string
}

func parseReport(t *testing.T, body string) []reportRow {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("the report is not CSV: %v\n%s", err, body)
	}
	var rows []reportRow
	for _, r := range recs[1:] { // mini_batch, attempt, worker, ..., result (11th)
		rows = append(rows, reportRow{index: int64(atoi(t, r[0])), attempt: atoi(t, r[1]), worker: r[2], result: r[10]})
	}
	return rows
}

// byBatch groups a report's rows by mini-batch as "attempt/result".
func byBatch(rows []reportRow) map[int64][]string {
	m := map[int64][]string{}
	for _, r := range rows {
		m[r.index] = append(m[r.index], fmt.Sprintf("%d/%s", r.attempt, r.result))
	}
	return m
}

// TestInterruptedRunResumedReportsEveryTryOnceUnderItsNumber: prs run is
// interrupted (SIGINT) with mini-batches in flight and others waiting for
// their second try, then resumed with the same --job-id: the report holds
// the records of the batches the interrupted run drained, and every try of
// every mini-batch once, numbered as run_max_try counts them (a batch that
// failed its first try before the interruption runs its second after it).
func TestInterruptedRunResumedReportsEveryTryOnceUnderItsNumber(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	const n = 24
	for _, name := range names(n, nil) {
		writeFile(t, in, name, []byte(name))
	}
	state, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	args := []string{"run", "--state-dir", state, "--nats", "", "--job-id", "job-int", "--ack-wait", "2s",
		"--entry-script", "testdata/score.py", "--input", in, "--output", out, "--mini-batch-size", "1",
		"--process-count-per-node", "2", "--", "--state", h.state, "--mode", "fail-once", "--sleep", "0.3"}

	// The first run: every batch fails its first try and comes back a
	// second later; interrupt it while slots are busy.
	cmd := exec.Command(prsBin, args...)
	cmd.Env = h.env()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(time.Minute)
	for len(h.lines("calls.log")) < 12 {
		select {
		case <-exited:
			t.Fatalf("prs run ended before the interruption:\n%s", tail(stderr.String(), 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("too few calls:\n%s", tail(stderr.String(), 3000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("prs run did not exit after SIGINT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "--job-id job-int") {
		t.Fatalf("interrupted run: exit %d\n%s", code, tail(stderr.String(), 3000))
	}
	before := len(h.lines("calls.log"))
	if before >= 2*n {
		t.Fatalf("every try ran before the interruption (%d calls)", before)
	}

	stdout, errOut, code := h.prs(2*time.Minute, args...)
	if code != 0 {
		t.Fatalf("resumed run: exit %d\n%s%s", code, stdout, tail(errOut, 3000))
	}
	sameRows(t, h.rows(out), names(n, nil))
	report, err := os.ReadFile(filepath.Join(out, contracts.LogReport))
	if err != nil {
		t.Fatal(err)
	}
	// Every try of every batch is in the report once, numbered from 1 with
	// no gap: the first failed, one succeeded (its counted try); a batch
	// whose earlier try was still running when the resume published it
	// again has that try as a duplicate (README). Transient rows (none is
	// expected here) spend no try.
	tries := 0
	all := byBatch(parseReport(t, string(report)))
	for i := int64(0); i < n; i++ {
		var results []string
		for _, r := range all[i] {
			try, result, _ := strings.Cut(r, "/")
			if result == contracts.ResultTransient {
				continue
			}
			if try != fmt.Sprint(len(results)+1) {
				t.Errorf("mini-batch %d: tries %q are not numbered 1, 2, ... once each", i, all[i])
			}
			results = append(results, result)
		}
		tries += len(results)
		ok := len(results) >= 2 && results[0] == contracts.ResultRetried
		for _, r := range results[min(1, len(results)):] {
			ok = ok && (r == contracts.ResultDuplicate || r == contracts.ResultSucceeded)
		}
		succeeded := 0
		for _, r := range results {
			if r == contracts.ResultSucceeded {
				succeeded++
			}
		}
		if !ok || succeeded != 1 {
			t.Errorf("mini-batch %d: rows %q, want a retried first try, then one succeeded try (and duplicates)", i, all[i])
		}
	}
	if len(all) != n {
		t.Errorf("rows of %d mini-batches, want %d", len(all), n)
	}
	// Each try is a call of run(): none is missing from the report.
	if calls := len(h.lines("calls.log")); calls != tries {
		t.Errorf("run() was called %d times, the report has %d tries", calls, tries)
	}
	if t.Failed() {
		t.Logf("report:\n%s\nfirst run:\n%s\nresumed run:\n%s", report, tail(stderr.String(), 6000), tail(errOut, 6000))
	}
}

// TestWorkersKilledAtRandomLeaveAReportRowForEveryMiniBatch: workers are
// SIGKILLed at random during a job of a few hundred mini-batches, losing
// the records they had not yet flushed. The final report still has exactly
// one row for the counted attempt of every mini-batch, the one its outcome
// names, and no try of a batch appears twice.
func TestWorkersKilledAtRandomLeaveAReportRowForEveryMiniBatch(t *testing.T) {
	h := newHarness(t)
	const n = 300
	h.upload("in", n)
	workers := []*proc{h.worker(2), h.worker(2), h.worker(2)}
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "1", "--run-max-try", "20"}, "--sleep", "0.03")
	var killed []string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		c, _ := h.h.ReadCounters(context.Background(), id)
		if c.Done >= n-40 || len(killed) == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not progress: %+v", c)
		}
		if c.Done < 20 {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		i := rand.IntN(len(workers))
		victim := workers[i]
		if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-victim.done
		killed = append(killed, workerName(t, victim.log))
		workers[i] = h.worker(2)
	}
	st, c := h.wait(id, 3*time.Minute)
	if st.State != contracts.StateCompleted || c.Done != n || c.ItemsSucceeded != n {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(n, nil))

	// The report is written when the job ends; wait until it is.
	var rows []reportRow
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		body, _ := h.read(h.s3("out"), contracts.LogReport)
		if body != "" {
			rows = parseReport(t, body)
			if countedRows(rows) >= n {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report has %d counted rows, want %d", countedRows(rows), n)
		}
	}
	counted := map[int64]reportRow{}
	tries := map[string]bool{}
	for _, r := range rows {
		if r.result == contracts.ResultTransient {
			continue
		}
		try := fmt.Sprintf("%d/%d", r.index, r.attempt)
		if tries[try] && r.result != contracts.ResultDuplicate {
			t.Errorf("mini-batch %d: try %d appears twice", r.index, r.attempt)
		}
		tries[try] = true
		if !contracts.Counts(r.result) {
			continue
		}
		if _, dup := counted[r.index]; dup {
			t.Errorf("mini-batch %d has two counted rows", r.index)
		}
		counted[r.index] = r
	}
	fromOutcome := 0
	recorded := h.workerRecords("out")
	for i := int64(0); i < n; i++ {
		r, ok := counted[i]
		if !ok {
			t.Errorf("mini-batch %d has no counted row", i)
			continue
		}
		o, _, _, err := h.ledger.Outcome(context.Background(), id, i)
		if err != nil {
			t.Fatal(err)
		}
		if r.result != contracts.ResultSucceeded || r.attempt != o.Attempt || r.worker != o.Worker {
			t.Errorf("mini-batch %d: counted row %+v, outcome attempt %d by %s", i, r, o.Attempt, o.Worker)
		}
		for _, other := range rows {
			if other.index == i && other.result != contracts.ResultTransient && other.attempt > r.attempt {
				t.Errorf("mini-batch %d: try %d after the counted try %d", i, other.attempt, r.attempt)
			}
		}
		if !recorded[fmt.Sprintf("%d/%d/%s", i, o.Attempt, o.Worker)] {
			fromOutcome++
		}
	}
	t.Logf("%d workers killed; %d counted rows came from the outcomes (their workers' records were lost)", len(killed), fromOutcome)
	if fromOutcome == 0 {
		t.Fatalf("no killed worker lost a record (killed %v): the test did not test the loss", killed)
	}
}

func countedRows(rows []reportRow) int {
	n := 0
	for _, r := range rows {
		if contracts.Counts(r.result) {
			n++
		}
	}
	return n
}

// workerRecords reads the attempt records the workers flushed under
// prefix's logs, as "index/attempt/worker".
func (h *harness) workerRecords(prefix string) map[string]bool {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), h.s3(prefix), h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	got := map[string]bool{}
	_ = s.List(context.Background(), contracts.LogWorkerRecordsPrefix, func(o objstore.ObjectInfo) error {
		body, _ := h.read(h.s3(prefix), o.Key)
		for _, line := range strings.Split(body, "\n") {
			var r contracts.AttemptRecord
			if json.Unmarshal([]byte(line), &r) == nil {
				got[fmt.Sprintf("%d/%d/%s", r.Index, r.Attempt, r.Worker)] = true
			}
		}
		return nil
	})
	return got
}

// workerName reads a worker's name from its log ("worker started" line).
func workerName(t *testing.T, log string) string {
	t.Helper()
	b, _ := os.ReadFile(log)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "worker started") {
			if _, rest, ok := strings.Cut(line, "worker="); ok {
				return strings.Fields(rest)[0]
			}
		}
	}
	return "?"
}
