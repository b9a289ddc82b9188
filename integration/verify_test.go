package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
)

// TestResumeOfACompletedJobChecksWhatItPromises: resubmitting a completed
// job returns its output only when the final file is there (a deleted one
// is written again from the recorded outcomes while the staged rows last)
// and nothing changed; otherwise it is refused with the reason.
func TestResumeOfACompletedJobChecksWhatItPromises(t *testing.T) {
	h := newHarness(t)
	in := t.TempDir()
	for _, n := range names(7, nil) {
		writeFile(t, in, n, []byte(n))
	}
	state := t.TempDir()
	out := filepath.Join(t.TempDir(), "out")
	final := filepath.Join(out, "parallel_run_step.txt")
	changedFile := filepath.Join(in, "f00001.txt")
	was := mtime(t, changedFile)
	run := func(output string, extra ...string) (string, string, int) {
		t.Helper()
		args := append([]string{"run", "--state-dir", state, "--nats", "", "--job-id", "job-a", "--ack-wait", "2s",
			"--entry-script", "testdata/score.py", "--input", in, "--output", output, "--mini-batch-size", "3", "--keep-staging", "true"}, extra...)
		return h.prs(2*time.Minute, append(args, "--", "--state", h.state)...)
	}
	if stdout, stderr, code := run(out); code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	calls := len(h.lines("calls.log"))

	// The final file deleted: written again, without running anything.
	if err := os.Remove(final); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(out)
	if code != 0 || !strings.Contains(stdout, "output: "+final) {
		t.Fatalf("after deleting the final file: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(out), names(7, nil))
	if n := len(h.lines("calls.log")); n != calls {
		t.Fatalf("run() was called %d more times", n-calls)
	}

	refused := []struct {
		name   string
		output string
		setup  func()
		extra  []string
		want   string
	}{
		{"another output", filepath.Join(t.TempDir(), "elsewhere"), nil, nil, "its output was " + out},
		{"another setting", out, nil, []string{"--error-threshold", "5"}, "its settings changed"},
		{"a file added to the input", out, func() { writeFile(t, in, "f00007.txt", []byte("new")) }, nil,
			"the input has 8 files now, 7 when the job was submitted"},
		{"a file changed in the input", out, func() {
			if err := os.Remove(filepath.Join(in, "f00007.txt")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, in, "f00001.txt", []byte("changed content"))
		}, nil, "the input's files (names, sizes or ETags) changed"},
	}
	for _, tc := range refused {
		if tc.setup != nil {
			tc.setup()
		}
		stdout, stderr, code := run(tc.output, tc.extra...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Fatalf("%s: exit %d, want 2 saying %q\n%s%s", tc.name, code, tc.want, stdout, tail(stderr, 3000))
		}
		t.Logf("%s: %s", tc.name, errorLine(stderr))
	}
	// The input as it was, so that only the output differs below.
	if err := os.Remove(changedFile); err != nil {
		t.Fatal(err)
	}
	writeFile(t, in, "f00001.txt", []byte("f00001.txt"))
	if err := os.Chtimes(changedFile, time.Time{}, was); err != nil {
		t.Fatal(err)
	}
	// The whole output deleted: the rows of these small mini-batches are in
	// their outcome records (inline_rows_max), so the final file is written
	// again from them, without running anything.
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if stdout, stderr, code := run(out); code != 0 || !strings.Contains(stdout, "output: "+final) {
		t.Fatalf("after deleting the whole output: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	sameRows(t, h.rows(out), names(7, nil))
	if n := len(h.lines("calls.log")); n != calls {
		t.Fatalf("run() was called %d more times", n-calls)
	}
	// A job whose rows are objects (inline_rows_max 0) cannot be written
	// again once they are deleted with the output.
	outB := filepath.Join(t.TempDir(), "out-b")
	runB := func() (string, string, int) {
		t.Helper()
		return h.prs(2*time.Minute, "run", "--state-dir", state, "--nats", "", "--job-id", "job-b", "--ack-wait", "2s",
			"--entry-script", "testdata/score.py", "--input", in, "--output", outB, "--mini-batch-size", "3",
			"--inline-rows-max", "0", "--allow-reuse", "false", "--", "--state", h.state)
	}
	if stdout, stderr, code := runB(); code != 0 {
		t.Fatalf("job-b: exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	callsB := len(h.lines("calls.log"))
	if err := os.RemoveAll(outB); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code = runB()
	if want := "were removed when it ended (keep_staging: true keeps them)"; code != 2 || !strings.Contains(stderr, want) {
		t.Fatalf("job-b's whole output deleted: exit %d, want 2 saying %q\n%s%s", code, want, stdout, tail(stderr, 3000))
	}
	if _, err := os.Stat(outB); !os.IsNotExist(err) {
		t.Fatalf("the refused resume wrote the deleted output (%v)", err)
	}
	if n := len(h.lines("calls.log")); n != callsB {
		t.Fatalf("run() was called %d more times", n-callsB)
	}
}

func mtime(t *testing.T, p string) time.Time {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

// TestReuseChecksTheEarlierOutput: allow_reuse returns an identical
// earlier job's output only while that output is there and still the
// earlier job's; otherwise the job runs.
func TestReuseChecksTheEarlierOutput(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 5)
	state := t.TempDir()
	run := func(output string, extra ...string) string {
		t.Helper()
		args := append([]string{"run", "--state-dir", state, "--nats", "", "--ack-wait", "2s",
			"--entry-script", "testdata/score.py", "--input", h.s3("in"), "--output", output}, extra...)
		stdout, stderr, code := h.prs(2*time.Minute, append(args, "--", "--state", h.state)...)
		if code != 0 {
			t.Fatalf("run into %s: exit %d\n%s%s", output, code, stdout, tail(stderr, 3000))
		}
		return stderr
	}
	calls := func() int { return len(h.lines("calls.log")) }
	run(h.s3("one"))
	if calls() != 1 {
		t.Fatalf("%d calls, want 1", calls())
	}
	if stderr := run(h.s3("two")); calls() != 1 || !strings.Contains(stderr, "returning its output") {
		t.Fatalf("an identical job was not reused (%d calls)", calls())
	}
	sameRows(t, h.rows(h.s3("two")), names(5, nil))

	// The earlier job's final files are gone: the job runs.
	for _, out := range []string{"one", "two"} {
		s, err := objstore.Open(t.Context(), h.s3(out), h.s3Options())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(t.Context(), "parallel_run_step.txt"); err != nil {
			t.Fatal(err)
		}
	}
	run(h.s3("three"))
	if calls() != 2 {
		t.Fatalf("the job was not run again with the earlier output gone (%d calls)", calls())
	}
	sameRows(t, h.rows(h.s3("three")), names(5, nil))

	// Another job takes the earlier job's output: its final file is not the
	// identical job's any more, so the next identical job runs.
	run(h.s3("three"), "--include", "f00000.txt", "--allow-reuse=false")
	if calls() != 3 {
		t.Fatalf("%d calls, want 3", calls())
	}
	if stderr := run(h.s3("four")); calls() != 4 || !strings.Contains(stderr, "taken by another job") {
		t.Fatalf("reused an output another job has taken (%d calls):\n%s", calls(), tail(stderr, 2000))
	}
	sameRows(t, h.rows(h.s3("four")), names(5, nil))
}
