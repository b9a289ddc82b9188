package integration

import (
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// Scale-in past the drain timeout: a worker SIGTERMed while both its slots
// run batches slower than its --drain-timeout stops them and hands them
// back at once, no try spent; another worker finishes them on attempt 1.
// The ack wait is a minute, beyond the job's wait: a batch left to time out
// instead of handed back would not finish in time.
func TestSIGTERMPastTheDrainTimeoutHandsBatchesBackWithoutATry(t *testing.T) {
	h := newHarness(t)
	h.ackWait = "1m"
	h.upload("in", 4)
	a := h.workerArgs(2, "--name", "wa", "--drain-timeout", "1s")
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "2"}, "--sleep", "4")
	eventually(t, 30*time.Second, "both batches running on the first worker", func() bool { return len(h.lines("calls.log")) == 2 })
	took := h.sigterm(a, 30*time.Second)
	t.Logf("SIGTERM to exit of a worker with 2 busy slots (--drain-timeout 1s, run() 4s): %s", took)
	if c, _ := h.h.ReadCounters(context.Background(), id); c.Done != 0 {
		t.Fatalf("a batch slower than the drain timeout was counted: %+v", c)
	}
	h.workerArgs(2, "--name", "wb")
	st, c := h.wait(id, 45*time.Second)
	if st.State != contracts.StateCompleted || c.Retried != 0 || c.ItemsSucceeded != 4 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(4, nil))
	h.checkNoTrySpent(id, 2)
	// The job report: per batch, the stopped attempt and the one that
	// finished, both attempt 1 (the workers rewrite it once their last logs
	// are in).
	want := []string{"0 1 wa transient WorkerStopped", "0 1 wb succeeded ", "1 1 wa transient WorkerStopped", "1 1 wb succeeded "}
	got := map[string]bool{}
	eventually(t, 30*time.Second, fmt.Sprintf("the job report's rows %q", want), func() bool {
		clear(got)
		text, _ := h.read(h.s3("out"), contracts.LogReport)
		rows, _ := csv.NewReader(strings.NewReader(text)).ReadAll()
		for i, r := range rows {
			if i > 0 && len(r) > 11 { // below the header
				got[strings.Join([]string{r[0], r[1], r[2], r[10], r[11]}, " ")] = true
			}
		}
		for _, w := range want {
			if !got[w] {
				return false
			}
		}
		return len(got) == len(want)
	})
	t.Logf("job report rows: %v", got)
	if n := len(h.lines("calls.log")); n != 4 {
		t.Fatalf("run() called %d times, want 4 (2 stopped, 2 finished)", n)
	}
}

// prs worker --idle-exit: the only worker exits 0 by itself once the queue
// has been empty for the idle time, never while it runs a batch (each runs
// longer than the idle time), so the job is whole when it exits; a worker
// that finds nothing to do exits 0 too.
func TestWorkerIdleExitExitsZeroOnlyWhenTheQueueIsEmpty(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 6)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "2"}, "--sleep", "1.5")
	w := h.workerArgs(1, "--idle-exit", "1s")
	select {
	case <-w.done:
	case <-time.After(45 * time.Second):
		t.Fatal("the worker did not exit with --idle-exit")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	st, c := h.wait(id, 5*time.Second)
	if st.State != contracts.StateCompleted || c.Done != 3 || c.Retried != 0 || c.ItemsSucceeded != 6 {
		t.Fatalf("the worker exited before the job ended: state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(6, nil))
	h.checkNoTrySpent(id, 3)
	idle := h.workerArgs(1, "--idle-exit", "500ms")
	select {
	case <-idle.done:
	case <-time.After(30 * time.Second):
		t.Fatal("a worker with nothing to do did not exit")
	}
	if code := idle.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("idle worker's exit code %d", code)
	}
}

// sigterm sends SIGTERM to a worker, waits for it to exit 0 and returns how
// long that took.
func (h *harness) sigterm(p *proc, timeout time.Duration) time.Duration {
	h.t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		h.t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		h.t.Fatalf("the worker did not exit %s after SIGTERM", timeout)
	}
	took := time.Since(start)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		h.t.Fatalf("worker exit code %d after SIGTERM", code)
	}
	return took
}

// checkNoTrySpent checks that each of a job's batches succeeded on attempt 1.
func (h *harness) checkNoTrySpent(id string, batches int64) {
	h.t.Helper()
	for i := int64(0); i < batches; i++ {
		o, _, ok, err := h.ledger.Outcome(context.Background(), id, i)
		if err != nil || !ok || !o.OK || o.Attempt != 1 {
			h.t.Fatalf("batch %d: outcome %+v (%v, %v), want success on attempt 1", i, o, ok, err)
		}
	}
}
