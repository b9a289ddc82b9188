package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/outputlock"
)

// bgRun is a prs process running in the background.
type bgRun struct {
	cmd         *exec.Cmd
	out, errOut bytes.Buffer
	done        chan struct{}
}

// start runs prs with args in the background; the test's end kills it.
func (h *harness) start(env []string, args ...string) *bgRun {
	h.t.Helper()
	r := &bgRun{done: make(chan struct{})}
	r.cmd = exec.Command(prsBin, args...)
	r.cmd.Env = append(h.env(), env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
	if err := r.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	h.t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// wait waits for the process's end and returns its output and exit code.
func (r *bgRun) wait(t *testing.T, timeout time.Duration) (string, string, int) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		t.Fatalf("prs did not end in %s:\n%s%s", timeout, r.out.String(), tail(r.errOut.String(), 3000))
	}
	return r.out.String(), r.errOut.String(), r.cmd.ProcessState.ExitCode()
}

// eventually waits for cond, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockRecord reads an output's current lock record (nil when none).
func (h *harness) lockRecord(output string) *outputlock.Current {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), output, h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	cur, _, err := outputlock.Read(context.Background(), s)
	if err != nil {
		h.t.Fatal(err)
	}
	return cur
}

// reportRows reads logs/sys/job_report/processed_mini-batches.csv.
func (h *harness) reportRows(output string) [][]string {
	h.t.Helper()
	text, ok := h.read(output, contracts.LogReport)
	if !ok {
		h.t.Fatalf("no %s under %s", contracts.LogReport, output)
	}
	rows, err := csv.NewReader(strings.NewReader(text)).ReadAll()
	if err != nil {
		h.t.Fatal(err)
	}
	return rows[1:]
}

// runArgs are the arguments of a prs run of the integration script on an
// embedded JetStream server of its own (as two users' prs run are).
func (h *harness) runArgs(input, output string, extra ...string) []string {
	return append([]string{"run", "--nats", "", "--ack-wait", "2s", "--entry-script", "testdata/score.py",
		"--input", input, "--output", output, "--allow-reuse=false", "--mini-batch-size", "1"}, extra...)
}

// TestTwoJobsOneOutputAtOnce: while one prs run owns an S3 output, a second
// one is refused (exit 2), told which job holds it and since when; the
// first job's output is exact and its logs are its own.
func TestTwoJobsOneOutputAtOnce(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 6)
	out := h.s3("out")
	first := h.start(nil, append(h.runArgs(h.s3("in"), out, "--job-id", "first"), "--", "--state", h.state, "--sleep", "0.5")...)
	eventually(t, time.Minute, "the first job to take the output", func() bool { return h.lockRecord(out) != nil })
	rec := h.lockRecord(out).Record

	stdout, stderr, code := h.prs(time.Minute, h.runArgs(h.s3("in"), out, "--job-id", "second")...)
	if code != 2 {
		t.Fatalf("second run: exit %d, want 2\n%s%s", code, stdout, tail(stderr, 3000))
	}
	for _, w := range []string{"output: ", out, "in use by job first", rec.Since.UTC().Format(time.RFC3339), "loses it"} {
		if !strings.Contains(stderr, w) {
			t.Fatalf("the refusal does not say %q:\n%s", w, errorLine(stderr))
		}
	}
	t.Logf("refused: %s", errorLine(stderr))

	stdout, stderr, code = first.wait(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(out), names(6, nil))
	if n := len(h.lines("calls.log")); n != 6 {
		t.Fatalf("%d run() calls, want 6", n)
	}
	if got := h.lockRecord(out).Record; got.Job != "first" || !got.Released {
		t.Fatalf("after the job the lock is %+v, want released by first", got)
	}
	if overview, _ := h.read(out, contracts.LogOverview); !strings.HasPrefix(overview, "Job first: Completed") {
		t.Fatalf("overview:\n%s", overview)
	}
	if rows := h.reportRows(out); len(rows) != 6 {
		t.Fatalf("%d report rows, want 6", len(rows))
	}
}

// TestOneStateDirOneProcess: a second prs run on the --state-dir of a
// running one is refused at once; the first runs every batch once.
func TestOneStateDirOneProcess(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	for _, n := range names(5, nil) {
		writeFile(t, in, n, []byte(n))
	}
	state := t.TempDir()
	args := func(out, id string) []string {
		return append(h.runArgs(in, out, "--job-id", id, "--state-dir", state), "--", "--state", h.state, "--sleep", "0.5")
	}
	out := filepath.Join(t.TempDir(), "out")
	first := h.start(nil, args(out, "first")...)
	eventually(t, time.Minute, "the first job to start", func() bool { return h.lockRecord(out) != nil })

	stdout, stderr, code := h.prs(time.Minute, args(filepath.Join(t.TempDir(), "out2"), "second")...)
	if code != 2 || !strings.Contains(stderr, "--state-dir "+state) || !strings.Contains(stderr, "in use by another prs process") ||
		!strings.Contains(stderr, "process "+itoa(int64(first.cmd.Process.Pid))) {
		t.Fatalf("second run: exit %d, want 2 naming the state folder and the first process\n%s%s", code, stdout, tail(stderr, 3000))
	}
	t.Logf("refused: %s", errorLine(stderr))
	stdout, stderr, code = first.wait(t, 2*time.Minute)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(out), names(5, nil))
	if n := len(h.lines("calls.log")); n != 5 {
		t.Fatalf("%d run() calls, want 5: a batch ran twice", n)
	}
	// The folder is free again: the job resumes there (completed, it
	// returns its output).
	stdout, stderr, code = h.prs(time.Minute, args(out, "first")...)
	if code != 0 || !strings.Contains(stdout, "first Completed") {
		t.Fatalf("resuming in the freed state folder: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
}

// TestSecondJobIntoACompletedOutput: a later job into the same local
// output moves the earlier job's logs under .prs/<earlier>/logs/ and
// reports only its own attempts.
func TestSecondJobIntoACompletedOutput(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	for _, n := range names(7, nil) {
		writeFile(t, in, n, []byte(n))
	}
	out := filepath.Join(t.TempDir(), "out")
	for _, run := range []struct {
		id    string
		files int
	}{{"job-one", 7}, {"job-two", 4}} {
		stdout, stderr, code := h.prs(2*time.Minute, append(h.runArgs(in, out, "--job-id", run.id, "--include", "f0000[0-"+itoa(int64(run.files-1))+"].txt"), "--", "--state", h.state)...)
		if code != 0 {
			t.Fatalf("%s: exit %d\n%s%s", run.id, code, stdout, tail(stderr, 3000))
		}
	}
	sameRows(t, h.rows(out), names(4, nil))
	rows := h.reportRows(out)
	if len(rows) != 4 {
		t.Fatalf("the second job's report has %d rows, want its own 4:\n%q", len(rows), rows)
	}
	if overview, _ := h.read(out, contracts.LogOverview); !strings.HasPrefix(overview, "Job job-two: Completed") {
		t.Fatalf("overview:\n%s", overview)
	}
	// The first job's logs are kept, out of the way, whole.
	moved := filepath.Join(out, ".prs", "job-one", "logs")
	if overview, ok := h.read(moved, "job_progress_overview.txt"); !ok || !strings.HasPrefix(overview, "Job job-one: Completed") {
		t.Fatalf("the first job's overview under %s: %q", moved, overview)
	}
	if rows := h.reportRows(filepath.Join(out, ".prs", "job-one")); len(rows) != 7 {
		t.Fatalf("the first job's report has %d rows, want 7", len(rows))
	}
	// Every worker record under logs/ is the second job's.
	records := h.readAll(out, "logs/sys/job_report/workers/")
	if strings.Contains(records, `"job-one"`) || strings.Count(records, `"job":"job-two"`) != 4 {
		t.Fatalf("worker records under logs/:\n%s", records)
	}
}

// TestStaleHoldIsTakenOverAfterTheLease: a prs run killed with SIGKILL
// keeps its output until its lease runs out; then a new job takes it,
// with the dead job's logs moved out of the way.
func TestStaleHoldIsTakenOverAfterTheLease(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	for _, n := range names(6, nil) {
		writeFile(t, in, n, []byte(n))
	}
	out := filepath.Join(t.TempDir(), "out")
	// Long enough that the refusal below is checked inside it on a loaded
	// machine (starting prs and listing its input take seconds there).
	lease := []string{outputlock.LeaseEnv + "=20s"}
	dead := h.start(lease, append(h.runArgs(in, out, "--job-id", "dead"), "--", "--state", h.state, "--sleep", "2")...)
	eventually(t, time.Minute, "the first job to write its logs", func() bool {
		_, err := os.Stat(filepath.Join(out, contracts.LogOverview))
		return err == nil
	})
	if err := dead.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dead.wait(t, time.Minute)
	rec := h.lockRecord(out).Record
	if rec.Job != "dead" || rec.Released || rec.Lease() != 20*time.Second {
		t.Fatalf("lock record %+v", rec)
	}

	if time.Until(rec.Expires()) > 10*time.Second {
		stdout, stderr, code := h.prs(time.Minute, h.runArgs(in, out, "--job-id", "next")...)
		if code != 2 || !strings.Contains(stderr, "in use by job dead") || !strings.Contains(stderr, "loses it") {
			t.Fatalf("within the lease: exit %d, want 2 naming the holder and its lease\n%s%s", code, stdout, tail(stderr, 3000))
		}
		t.Logf("refused within the lease: %s", errorLine(stderr))
	}
	eventually(t, time.Minute, "the dead job's lease to run out", func() bool { return time.Now().After(rec.Expires()) })
	stdout, stderr, code := h.prs(2*time.Minute, h.runArgs(in, out, "--job-id", "next")...)
	if code != 0 {
		t.Fatalf("after the lease: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(out), names(6, nil))
	if rows := h.reportRows(out); len(rows) != 6 {
		t.Fatalf("report rows %d, want the new job's 6", len(rows))
	}
	if got := h.lockRecord(out).Record; got.Job != "next" || !got.Released {
		t.Fatalf("lock after the new job: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(out, ".prs", "dead", "logs")); err != nil {
		t.Fatalf("the dead job's logs were not moved: %v", err)
	}
}

// TestHolderThatLostItsOutputFails: a job whose hold ran out while its
// process was stopped, and whose output another job then took, fails when
// it wakes instead of writing over the other job's output.
func TestHolderThatLostItsOutputFails(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	for _, n := range names(4, nil) {
		writeFile(t, in, n, []byte(n))
	}
	out := filepath.Join(t.TempDir(), "out")
	sleeper := h.start([]string{outputlock.LeaseEnv + "=3s"}, append(h.runArgs(in, out, "--job-id", "sleeper"), "--", "--state", h.state, "--sleep", "2")...)
	eventually(t, time.Minute, "the first job to run a batch", func() bool { return len(h.lines("calls.log")) > 0 })
	if err := sleeper.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	rec := h.lockRecord(out).Record
	eventually(t, time.Minute, "the stopped job's lease to run out", func() bool { return time.Now().After(rec.Expires()) })
	stdout, stderr, code := h.prs(2*time.Minute, h.runArgs(in, out, "--job-id", "taker")...)
	if code != 0 {
		t.Fatalf("taker: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	if err := sleeper.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = sleeper.wait(t, 2*time.Minute)
	if code != 1 || !strings.Contains(stdout, "lost its output to job taker") {
		t.Fatalf("the woken job: exit %d, want 1 with the reason\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(out), names(4, nil))
	if got := h.lockRecord(out).Record; got.Job != "taker" {
		t.Fatalf("lock after both: %+v", got)
	}
}
