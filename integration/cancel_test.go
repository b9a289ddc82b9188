package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/syncbuf"
)

func TestCancelStopsTheJobAndSubmitWaitExitsOne(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 20)
	h.worker(1)
	cmd := exec.Command(prsBin, "submit", "--wait", "--ack-wait", h.ackWait, "--input", h.s3("in"), "--output", h.s3("out"),
		"--entry-script", "testdata/score.py", "--allow-reuse=false", "--mini-batch-size", "2", "--", "--state", h.state, "--sleep", "2")
	cmd.Env = h.env()
	var out syncbuf.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(h.lines("calls.log")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the job did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	id := jobID(t, out.String())
	stdout, stderr, code := h.prs(30*time.Second, "cancel", id)
	if code != 0 || !strings.Contains(stdout, "cancelled") {
		t.Fatalf("cancel: exit %d\n%s%s", code, stdout, stderr)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("submit --wait exited %d (%v), want 1\n%s", code, err, out.String())
	}
	st, _, err := h.ledger.State(context.Background(), id)
	if err != nil || st.State != contracts.StateCancelled {
		t.Fatalf("state %+v %v", st, err)
	}
	// The in-flight batch was stopped and nothing else starts.
	time.Sleep(3 * time.Second)
	if n := len(h.lines("calls.log")); n > 3 {
		t.Fatalf("%d batches started after the cancel", n)
	}
	if _, ok := h.read(h.s3("out"), "parallel_run_step.txt"); ok {
		t.Fatal("a cancelled job wrote its final file")
	}
	stdout, _, code = h.prs(30*time.Second, "status", id)
	if code != 0 || !strings.Contains(stdout, "Cancelled") {
		t.Fatalf("status: %d %s", code, stdout)
	}
}
