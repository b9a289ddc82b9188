package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prs debug counts a script that returns more rows than files as a worker
// does: every row shown, each file succeeded once, the extra rows noted.
func TestPrsDebugCountsExtraRowsOnce(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		if err := os.WriteFile(filepath.Join(in, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	py := filepath.Join(dir, "twice.py")
	if err := os.WriteFile(py, []byte("import os\ndef init():\n    pass\n\ndef run(mb):\n    return [os.path.basename(p) + s for p in mb for s in ('', '!')]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := prsRun(t, nil, "debug", "--entry-script", py, "--input", in)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (every file succeeded)\n%s", code, out)
	}
	for _, w := range []string{"it returned 6 rows:", "a.txt\na.txt!\n", "c.txt!\n",
		"note: run() returned 6 rows for 3 items; the 3 extra rows are kept", "3 items: 3 succeeded, 0 failed"} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

// runScript runs a job of five files with a python entry script through
// `prs run` and returns its stdout (the summary), its exit code and the
// output folder; stderr (progress and logs) is shown when the test fails.
func runScript(t *testing.T, script string, flags ...string) (string, int, string) {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.txt", "b.txt", "c.txt", "d.txt", "e.txt"} {
		if err := os.WriteFile(filepath.Join(in, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	py := filepath.Join(dir, "score.py")
	if err := os.WriteFile(py, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "--entry-script", py, "--input", in, "--output", out,
		"--mini-batch-size", "2", "--run-max-try", "2", "--allow-reuse=false"}, flags...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("stderr of prs run:\n%s", tail(stderr.String(), 4000))
		}
	})
	return stdout.String(), cmd.ProcessState.ExitCode(), out
}

// A job in which every item failed ends Failed, "every item failed", with
// exit 1, under the default thresholds that tolerate every failure: init()
// raising, sys.exit(3) in init() or in run(), on every try.
func TestJobWhereEveryItemFailedFails(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"init raises", "def init():\n    raise RuntimeError('no model here')\n\ndef run(mb):\n    return mb\n"},
		{"init exits 3", "import sys\ndef init():\n    sys.exit(3)\n\ndef run(mb):\n    return mb\n"},
		{"run exits 3", "import sys\ndef init():\n    pass\n\ndef run(mb):\n    sys.exit(3)\n"},
		{"run returns nothing", "def init():\n    pass\n\ndef run(mb):\n    return []\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, code, out := runScript(t, tc.script)
			if code != 1 || !strings.Contains(msg, "Failed") || !strings.Contains(msg, "reason: every item failed (5 of 5 items)") ||
				!strings.Contains(msg, "items: 0 succeeded, 5 failed") {
				t.Fatalf("exit %d, want 1 and the reason every item failed:\n%s", code, msg)
			}
			if _, err := os.Stat(filepath.Join(out, "parallel_run_step.txt")); err == nil {
				t.Fatal("a job where every item failed wrote its final file")
			}
		})
	}
}

// A job with some failed items under tolerant thresholds completes (exit
// 0) and its last line says how many items failed.
func TestJobWithSomeFailedItemsSaysSoInItsLastLine(t *testing.T) {
	script := "import os, sys\ndef init():\n    pass\n\ndef run(mb):\n" +
		"    if any(p.endswith('e.txt') for p in mb):\n        sys.exit(3)\n" +
		"    return [os.path.basename(p) for p in mb if not p.endswith('b.txt')]\n"
	msg, code, out := runScript(t, script)
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	last := lines[len(lines)-1]
	// b.txt is missing from its rows; e.txt's batch exits on both tries.
	want := " completed with 2 of 5 items failed: see " + filepath.Join(out, "logs/user/error.txt")
	if code != 0 || !strings.HasPrefix(last, "job ") || !strings.HasSuffix(last, want) {
		t.Fatalf("exit %d, last line %q, want exit 0 and %q:\n%s", code, last, want, msg)
	}
	b, err := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
	if err != nil || string(b) != "a.txt\nc.txt\nd.txt\n" {
		t.Fatalf("final file %q (%v)", b, err)
	}
}
