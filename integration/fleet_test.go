package integration

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

func TestThousandFilesInMiniBatchesOfSeven(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 1000)
	h.worker(2)
	h.worker(2)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "7"})
	st, c := h.wait(id, 3*time.Minute)
	if st.State != contracts.StateCompleted {
		t.Fatalf("state %+v", st)
	}
	if st.TotalBatches != 143 || c.Done != 143 || c.ItemsSucceeded != 1000 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(1000, nil))
}

func TestPartialReturnsCountExactlyAndThresholdBoundaryHolds(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 100)
	h.worker(2)
	skip := func(n string) bool { return strings.HasSuffix(n, "7.txt") } // 10 files
	for _, tc := range []struct {
		threshold string
		want      string
	}{{"10", contracts.StateCompleted}, {"9", contracts.StateFailed}} {
		out := h.s3("out-" + tc.threshold)
		id := h.submit(h.s3("in"), out, []string{"--mini-batch-size", "10", "--error-threshold", tc.threshold}, "--skip-suffix", "7.txt")
		st, c := h.wait(id, time.Minute)
		if st.State != tc.want {
			t.Fatalf("error_threshold %s: state %s (%s), want %s", tc.threshold, st.State, st.Reason, tc.want)
		}
		if tc.want == contracts.StateCompleted {
			if c.ItemsFailed != 10 || c.ItemsSucceeded != 90 || c.FailedBatches != 10 {
				t.Fatalf("counters %+v", c)
			}
			sameRows(t, h.rows(out), names(100, skip))
		} else {
			if !strings.Contains(st.Reason, "error_threshold 9") {
				t.Fatalf("reason %q", st.Reason)
			}
			if _, ok := h.read(out, "parallel_run_step.txt"); ok {
				t.Fatal("a failed job wrote its final file")
			}
			// The overview says why, and where to look.
			deadline := time.Now().Add(15 * time.Second)
			for {
				ov, _ := h.read(out, contracts.LogOverview)
				if strings.Contains(ov, "Result: Failed") && strings.Contains(ov, "Reason: ") &&
					strings.Contains(ov, "error_threshold 9") && strings.Contains(ov, "Where to look next") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("overview of the failed job:\n%s", ov)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

func TestScriptThatFailsOnceSucceedsOnRetry(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 40)
	h.worker(2)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "10"}, "--mode", "fail-once")
	st, c := h.wait(id, time.Minute)
	if st.State != contracts.StateCompleted || c.Retried != 4 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(40, nil))
	if got := len(h.lines("calls.log")); got != 8 {
		t.Fatalf("run() called %d times, want 8 (each of 4 batches twice)", got)
	}
}

func TestAlwaysFailingScriptIsTriedExactlyRunMaxTry(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 20)
	h.worker(2)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "10", "--run-max-try", "3"}, "--mode", "always-fail")
	st, c := h.wait(id, time.Minute)
	// Every item failed: the job fails, whatever the thresholds tolerate.
	if st.State != contracts.StateFailed || !strings.Contains(st.Reason, "every item failed") ||
		c.FailedBatches != 2 || c.ItemsFailed != 20 || c.Retried != 4 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	per := map[string]int{}
	for _, k := range h.lines("calls.log") {
		per[k]++
	}
	if per["f00000.txt"] != 3 || per["f00010.txt"] != 3 || len(per) != 2 {
		t.Fatalf("calls per batch %v, want 3 each", per)
	}
	o, _, ok, err := h.ledger.Outcome(context.Background(), id, 0)
	if err != nil || !ok || o.ErrorType != "ValueError" || !strings.Contains(o.Error, "always fails") {
		t.Fatalf("outcome %+v (%v, %v)", o, ok, err)
	}
}

func TestHangingScriptIsKilledAtTimeoutAndReinitialised(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 30)
	h.worker(1)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "10", "--run-invocation-timeout", "2"}, "--mode", "hang-once")
	st, c := h.wait(id, time.Minute)
	if st.State != contracts.StateCompleted || c.Retried != 1 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(30, nil))
	inits := h.lines("init.log")
	if len(inits) != 2 || inits[0] == inits[1] {
		t.Fatalf("init.log %v: want init() in two processes", inits)
	}
	hung := h.lines("hung.log")
	if len(hung) != 1 {
		t.Fatalf("hung.log %v", hung)
	}
	for _, f := range strings.Fields(hung[0]) {
		pid := atoi(t, f)
		deadline := time.Now().Add(5 * time.Second)
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("process %d of the hung script is still alive", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func TestWorkerKilledMidBatchLosesAndDuplicatesNothing(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 200)
	victim := h.worker(2)
	h.worker(2)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "5"}, "--sleep", "0.15")
	// Kill the victim while it is in the middle of batches.
	deadline := time.Now().Add(time.Minute)
	for {
		c, _ := h.h.ReadCounters(context.Background(), id)
		if c.Done >= 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	st, c := h.wait(id, 2*time.Minute)
	if st.State != contracts.StateCompleted || c.Done != 40 || c.ItemsSucceeded != 200 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(200, nil))
}

func TestJetStreamRestartMidJobLosesNothing(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 200)
	h.worker(2)
	h.worker(2)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "5"}, "--sleep", "0.1")
	deadline := time.Now().Add(time.Minute)
	for {
		c, _ := h.h.ReadCounters(context.Background(), id)
		if c.Done >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.restartNATS(time.Second)
	st, c := h.wait(id, 2*time.Minute)
	if st.State != contracts.StateCompleted || c.Done != 40 || c.ItemsSucceeded != 200 || c.ItemsFailed != 0 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(200, nil))
}

func TestAllowReuseReturnsTheEarlierOutput(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 25)
	h.worker(1)
	run := func(out string) (string, string) {
		stdout, stderr, code := h.prs(time.Minute, "submit", "--wait", "--ack-wait", h.ackWait, "--input", h.s3("in"), "--output", out,
			"--entry-script", "testdata/score.py", "--mini-batch-size", "10", "--", "--state", h.state)
		if code != 0 {
			t.Fatalf("submit exited %d:\n%s%s", code, stdout, stderr)
		}
		return stdout, stderr
	}
	run(h.s3("first"))
	calls := len(h.lines("calls.log"))
	if calls != 3 {
		t.Fatalf("first run: %d calls, want 3", calls)
	}
	out, _ := run(h.s3("second"))
	if got := len(h.lines("calls.log")); got != calls {
		t.Fatalf("the reused job ran the script again (%d calls)", got-calls)
	}
	id := jobID(t, out)
	st, _, err := h.ledger.State(context.Background(), id)
	if err != nil || st.State != contracts.StateCompleted || st.ReusedFrom == "" {
		t.Fatalf("state %+v err %v", st, err)
	}
	sameRows(t, h.rows(h.s3("second")), names(25, nil))
}
