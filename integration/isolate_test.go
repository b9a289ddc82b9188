package integration

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// waitObject waits until an object under uri holds every one of want.
func (h *harness) waitObject(uri, key string, want ...string) string {
	h.t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		s, _ := h.read(uri, key)
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%s/%s lacks %q:\n%s", uri, key, missing, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// failedOutcomes lists a job's failed mini-batches and their errors.
func (h *harness) failedOutcomes(id string) string {
	outs, _, err := h.ledger.FailedOutcomes(context.Background(), id, 100)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, o := range outs {
		fmt.Fprintf(&b, "mini-batch %d: %d failed: %s: %s\n", o.Index, o.Failed, o.ErrorType, o.Error)
	}
	return b.String()
}

// The acceptance test of isolate_failures: 1,000 files in mini-batches of
// 50, three files that make run() raise and one that makes it hang past
// run_invocation_timeout (5 s: 3 s once timed a good mini-batch out on a
// machine shared by many), run_max_try 1 so that the last try is the
// first. Without isolate_failures the 4 mini-batches fail whole: 200
// failed items, as in ParallelRunStep. With it only the 4 files fail, each
// named in logs/user/error.txt, the 996 others' rows are there in order,
// and the extra run() calls stay within 2·k·⌈log2 n⌉ per mini-batch.
func TestIsolateFailuresOfAThousandFiles(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 1000)
	h.worker(4)
	bad := []string{"f00123.txt", "f00456.txt", "f00789.txt"}
	const hang = "f00321.txt"
	failing := func(n string) bool { return n == hang || n == bad[0] || n == bad[1] || n == bad[2] }
	flags := []string{"--mini-batch-size", "50", "--run-max-try", "1", "--run-invocation-timeout", "5"}
	script := []string{"--raise-on", strings.Join(bad, ","), "--hang-on", hang}

	id := h.submit(h.s3("in"), h.s3("whole"), flags, script...)
	st, c := h.wait(id, 3*time.Minute)
	if st.State != contracts.StateCompleted || c.FailedBatches != 4 || c.ItemsFailed != 200 || c.ItemsSucceeded != 800 {
		t.Fatalf("without isolate_failures: state %+v counters %+v; want 4 failed mini-batches, 200 failed items\n%s", st, c, h.failedOutcomes(id))
	}
	inFailedBatch := func(n string) bool {
		i := atoi(t, strings.TrimSuffix(strings.TrimPrefix(n, "f"), ".txt")) / 50
		return i == 2 || i == 6 || i == 9 || i == 15
	}
	sameRows(t, h.rows(h.s3("whole")), names(1000, inFailedBatch))
	if calls := len(h.lines("calls.log")); calls != 20 {
		t.Fatalf("without isolate_failures: %d run() calls, want 20", calls)
	}
	if err := os.Remove(filepath.Join(h.state, "calls.log")); err != nil {
		t.Fatal(err)
	}

	id = h.submit(h.s3("in"), h.s3("isolated"), append(flags, "--isolate-failures", "true"), script...)
	st, c = h.wait(id, 5*time.Minute)
	if st.State != contracts.StateCompleted || c.FailedBatches != 4 || c.ItemsFailed != 4 || c.ItemsSucceeded != 996 {
		t.Fatalf("with isolate_failures: state %+v counters %+v; want 4 failed items\n%s", st, c, h.failedOutcomes(id))
	}
	sameRows(t, h.rows(h.s3("isolated")), names(1000, failing))
	extra := len(h.lines("calls.log")) - 20
	bound := 4 * 2 * int(math.Ceil(math.Log2(50)))
	t.Logf("%d extra run() calls for 4 bad files in 4 mini-batches of 50 (bound %d)", extra, bound)
	if extra <= 0 || extra > bound {
		t.Fatalf("%d extra run() calls, want 1 to %d", extra, bound)
	}
	summary := h.waitObject(h.s3("isolated"), contracts.LogErrorSummary, "4 kinds of error",
		"failed items: f00123.txt (mini-batch 2)", "failed items: f00456.txt (mini-batch 9)",
		"failed items: f00789.txt (mini-batch 15)", "1 x Timeout: ", "failed items: f00321.txt (mini-batch 6)")
	if strings.Count(summary, "failed items:") != 4 {
		t.Fatalf("error.txt names other items:\n%s", summary)
	}
	report := h.waitObject(h.s3("isolated"), contracts.LogReport, ",part,extra_calls\n", ",split,ValueError,cannot read f00123.txt,items 0-49,",
		",failed,ValueError,cannot read f00123.txt,item 23,", ",failed,Timeout,")
	if n := strings.Count(report, ",partial,ItemError,"); n != 4 {
		t.Fatalf("%d isolated attempts in the report, want 4:\n%s", n, report)
	}
}

// A worker SIGKILLed in the middle of an isolation leaves no rows and no
// outcome; the redelivered mini-batch (past its last try) is isolated again
// by another worker, and the output is exact.
func TestWorkerKilledDuringIsolation(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 200)
	victim := h.worker(1)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "50", "--run-max-try", "1", "--isolate-failures", "true", "--keep-staging", "true"},
		"--raise-on", "f00007.txt", "--block-part", "50")
	// The first part of mini-batch 0's isolation blocks until its worker dies.
	deadline := time.Now().Add(time.Minute)
	for len(h.lines("blocked.log")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no part of the isolation started")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	h.worker(2)
	st, c := h.wait(id, 2*time.Minute)
	if st.State != contracts.StateCompleted || c.Done != 4 || c.FailedBatches != 1 || c.ItemsFailed != 1 || c.ItemsSucceeded != 199 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	sameRows(t, h.rows(h.s3("out")), names(200, func(n string) bool { return n == "f00007.txt" }))
	o, _, ok, err := h.ledger.Outcome(context.Background(), id, 0)
	if err != nil || !ok || o.Attempt != 2 || o.Failed != 1 || !strings.Contains(o.Error, "f00007.txt: ValueError: cannot read f00007.txt") {
		t.Fatalf("outcome of mini-batch 0: %+v (%v); want attempt 2 with f00007.txt failed", o, err)
	}
	// Rows of mini-batch 0: the redelivery's alone; the killed worker wrote none.
	staging, err := objstore.Open(context.Background(), h.s3("out/.prs/"+id), h.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := staging.List(context.Background(), "results/", func(oi objstore.ObjectInfo) error {
		if strings.Contains(oi.Key, "/0000000000-") {
			keys = append(keys, oi.Key)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Small rows ride in the outcome (inline_rows_max): then no object at all.
	switch {
	case len(o.Rows) > 0 && (o.ResultKey != "" || len(keys) != 0):
		t.Fatalf("rows of mini-batch 0 in its outcome and under %v (outcome's key %q), want the outcome's alone", keys, o.ResultKey)
	case len(o.Rows) == 0 && (len(keys) != 1 || keys[0] != o.ResultKey):
		t.Fatalf("rows of mini-batch 0 under %v, want only the outcome's %s", keys, o.ResultKey)
	}
	// The blocked script noticed its worker's death and ended.
	pid := atoi(t, h.lines("blocked.log")[0])
	deadline = time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the killed worker's script %d is still alive", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
