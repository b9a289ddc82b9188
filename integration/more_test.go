package integration

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

func TestSourceDirectoryAndSideInputReachTheScript(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 12)
	s, err := os.CreateTemp(t.TempDir(), "labels")
	if err != nil {
		t.Fatal(err)
	}
	s.WriteString("cat\ndog\n")
	s.Close()
	h.putFile("side/labels.txt", s.Name())
	h.worker(2)
	out, errOut, code := h.prs(time.Minute, "submit", "--wait", "--ack-wait", h.ackWait, "--input", h.s3("in"), "--output", h.s3("out"),
		"--source-directory", "testdata/srcdir", "--entry-script", "main.py", "--mini-batch-size", "5",
		"--side-input", "labels="+h.s3("side/labels.txt"), "--", "--labels", "{side_inputs.labels}")
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	var want []string
	for _, n := range names(12, nil) {
		want = append(want, "shipped cat "+n)
	}
	sameRows(t, h.rows(h.s3("out")), want)
}

func TestSIGTERMDrainsTheWorkerWithoutSpendingATry(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 6)
	w := h.worker(1)
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "2"}, "--sleep", "1.5")
	deadline := time.Now().Add(30 * time.Second)
	for len(h.lines("calls.log")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no batch started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker did not exit after SIGTERM")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("worker exit code %d", code)
	}
	c, _ := h.h.ReadCounters(context.Background(), id)
	if c.Done != 1 {
		t.Fatalf("the in-flight batch did not finish during the drain: %+v", c)
	}
	h.worker(2)
	st, c := h.wait(id, time.Minute)
	if st.State != contracts.StateCompleted || c.Retried != 0 || c.ItemsSucceeded != 6 {
		t.Fatalf("state %+v counters %+v", st, c)
	}
	for i := int64(0); i < 3; i++ {
		o, _, _, _ := h.ledger.Outcome(context.Background(), id, i)
		if o.Attempt != 1 {
			t.Fatalf("batch %d finished on attempt %d, want 1", i, o.Attempt)
		}
	}
	sameRows(t, h.rows(h.s3("out")), names(6, nil))
	if log, _ := os.ReadFile(w.log); !strings.Contains(string(log), "draining") {
		t.Fatalf("worker log does not mention the drain:\n%s", log)
	}
}
