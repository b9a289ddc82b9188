package entryscript

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testBundle is what a test of a handler needs: a job whose entry script is
// score.py in a source folder of its own, and the user's output.
type testBundle struct {
	src    string // the source folder
	script string // src/score.py
	env    *consumer.JobEnv
	stdout *syncbuf.Buffer
	stderr *syncbuf.Buffer
}

// setup writes script as score.py into a fresh source folder and returns
// the bundle of a job that runs it.
func setup(t *testing.T, script string) *testBundle {
	t.Helper()
	root := t.TempDir()
	b := &testBundle{src: filepath.Join(root, "source"), stdout: &syncbuf.Buffer{}, stderr: &syncbuf.Buffer{}}
	b.script = filepath.Join(b.src, "score.py")
	for _, d := range []string{"source", "work", "output", "logs"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, b.script, script)
	cfg := contracts.DefaultConfig()
	b.env = &consumer.JobEnv{
		Job:         &contracts.Job{ID: "job-1", Config: cfg},
		SourceDir:   b.src,
		EntryScript: b.script,
		WorkDir:     filepath.Join(root, "work"),
		OutputDir:   filepath.Join(root, "output"),
		LogDir:      filepath.Join(root, "logs"),
		Worker:      "worker-a",
		Slot:        2,
		Stdout:      b.stdout,
		Stderr:      b.stderr,
	}
	return b
}

// handler builds the bundle's handler, closed when the test ends.
func (b *testBundle) handler(t *testing.T, opts Options) consumer.Handler {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := New(b.env, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// output is the path of a file in the job's output folder.
func (b *testBundle) output(name string) string { return filepath.Join(b.env.OutputDir, name) }

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// batch is a mini-batch of the given paths.
func batch(paths ...string) *consumer.Batch {
	return &consumer.Batch{JobID: "job-1", Index: 7, Attempt: 1, Paths: paths}
}

// timeout returns a context that ends after d, canceled when the test ends.
func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// run runs b in h within 60 s and returns its rows as strings.
func run(t *testing.T, h consumer.Handler, b *consumer.Batch) []string {
	t.Helper()
	res, err := h.Run(timeout(t, time.Minute), b)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rowStrings(res)
}

// runText runs b in h within 60 s and returns its rows as the texts they
// hold, failing the test if a row is not a JSON string (the rows of the
// default text output are).
func runText(t *testing.T, h consumer.Handler, b *consumer.Batch) []string {
	t.Helper()
	rows := run(t, h, b)
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r), &rows[i]); err != nil {
			t.Fatalf("row %d is %s, not a JSON string", i, r)
		}
	}
	return rows
}

func rowStrings(res consumer.Result) []string {
	rows := make([]string, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = string(r)
	}
	return rows
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// scriptError returns err's *consumer.ScriptError, failing the test if there is none.
func scriptError(t *testing.T, err error) *consumer.ScriptError {
	t.Helper()
	var se *consumer.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) holds no *consumer.ScriptError", err, err)
	}
	return se
}

// waitFor waits until cond holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", d, what)
		}
		<-tick.C
	}
}

// gone reports whether the process pid no longer runs: it does not exist,
// or it is a zombie waiting for its parent.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the command name, which is in parentheses.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}
