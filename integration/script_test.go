package integration

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// localJob is a job of `prs run` on local folders: an input folder, an
// output folder and an entry script, all in a fresh temporary folder.
type localJob struct {
	t      *testing.T
	dir    string
	input  string
	output string
	script string
}

// newLocalJob writes script as score.py and files (name to content) into
// the input folder.
func newLocalJob(t *testing.T, script string, files map[string]string) *localJob {
	t.Helper()
	dir := t.TempDir()
	j := &localJob{t: t, dir: dir, input: filepath.Join(dir, "in"), output: filepath.Join(dir, "out"), script: filepath.Join(dir, "score.py")}
	if err := os.MkdirAll(j.input, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(j.script, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(j.input, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return j
}

// run runs the job with `prs run` and more flags within timeout, with env
// added to the test's environment; it returns prs's stdout, its stderr
// (whose first 1 MiB the test keeps) and its exit code.
func (j *localJob) run(timeout time.Duration, env []string, flags ...string) (string, string, int) {
	j.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"run", "--input", j.input, "--output", j.output, "--entry-script", j.script,
		"--allow-reuse=false"}, flags...)
	cmd := exec.CommandContext(ctx, prsBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout bytes.Buffer
	stderr := &headWriter{max: 1 << 20}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if err != nil && code == -1 {
		j.t.Fatalf("prs %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String(), code
}

// file reads a file under the job's output folder.
func (j *localJob) file(name string) string {
	j.t.Helper()
	b, err := os.ReadFile(filepath.Join(j.output, name))
	if err != nil {
		j.t.Fatal(err)
	}
	return string(b)
}

// logs returns the files under the output's folder prefix (such as
// "logs/user/stdout"), concatenated in name order.
func (j *localJob) logs(prefix string) string {
	j.t.Helper()
	var names []string
	_ = filepath.WalkDir(filepath.Join(j.output, prefix), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			j.t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	max int
	buf bytes.Buffer
}

func (w *headWriter) Write(b []byte) (int, error) {
	if room := w.max - w.buf.Len(); room > 0 {
		w.buf.Write(b[:min(room, len(b))])
	}
	return len(b), nil
}

func (w *headWriter) String() string { return w.buf.String() }

// TestScriptOutputWithoutLineBreaksIsKept: a run() that writes 50 MiB to
// stdout without a line break takes no longer than its neighbours' (no
// timeout at 60 s), and every byte reaches logs/user/stdout, cut into lines
// of at most 64 KiB.
func TestScriptOutputWithoutLineBreaksIsKept(t *testing.T) {
	const size = 50 << 20
	j := newLocalJob(t, `
import os
import sys

def run(mini_batch):
    for path in mini_batch:
        if os.path.basename(path) == "big.txt":
            chunk = "z" * (1 << 20)
            for _ in range(50):
                sys.stdout.write(chunk)
        else:
            print("a line for " + os.path.basename(path))
    return [os.path.basename(p) for p in mini_batch]
`, map[string]string{"a.txt": "", "big.txt": "", "c.txt": ""})
	stdout, stderr, code := j.run(4*time.Minute, nil, "--mini-batch-size", "1", "--run-invocation-timeout", "60")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	if rows := j.file("parallel_run_step.txt"); rows != "a.txt\nbig.txt\nc.txt\n" {
		t.Errorf("rows %q", rows)
	}
	logged := j.logs("logs/user/stdout")
	if n := strings.Count(logged, "z"); n != size {
		t.Errorf("logs/user/stdout holds %d of the %d bytes written", n, size)
	}
	for i, line := range strings.Split(logged, "\n") {
		if len(line) > 64<<10 {
			t.Fatalf("line %d of logs/user/stdout has %d bytes", i, len(line))
		}
	}
	for _, want := range []string{"a line for a.txt\n", "a line for c.txt\n"} {
		if !strings.Contains(logged, want) {
			t.Errorf("logs/user/stdout lacks %q", want)
		}
	}
}

// doubled matches an error type shown twice in one line, such as
// "AttributeError: AttributeError:" or "Timeout: ... Timeout:".
func doubledType(line string) string {
	for _, typ := range []string{"AttributeError", "Timeout", "Transient", "Crash"} {
		if strings.Count(line, typ+":") > 1 {
			return typ
		}
	}
	return ""
}

// TestScriptErrorsShowTheirTypeOnce: an init() and a run() that raise
// AttributeError and a run() that times out, each on its last try: their
// type is shown once wherever the error is (prs submit --wait's summary,
// prs status, logs/user/error.txt, the node log, prs debug).
func TestScriptErrorsShowTheirTypeOnce(t *testing.T) {
	h := newHarness(t)
	j := newLocalJob(t, `
import os
import sys
import time

STATE = sys.argv[sys.argv.index("--state") + 1]

def init():
    marker = os.path.join(STATE, "inited")
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise AttributeError("'NoneType' object has no attribute 'load'")

def run(mini_batch):
    name = os.path.basename(mini_batch[0])
    if name == "raise.txt":
        raise AttributeError("'NoneType' object has no attribute 'predict'")
    if name == "hang.txt":
        time.sleep(60)
    return [name]
`, map[string]string{"a.txt": "", "hang.txt": "", "ok.txt": "", "raise.txt": ""})
	h.worker(1)
	stdout, stderr, code := h.prs(3*time.Minute, "submit", "--wait", "--ack-wait", h.ackWait, "--input", j.input, "--output", j.output,
		"--entry-script", j.script, "--mini-batch-size", "1", "--run-max-try", "1", "--run-invocation-timeout", "2",
		"--allow-reuse=false", "--", "--state", j.dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	id := jobID(t, stdout)
	status, errOut, code := h.prs(time.Minute, "status", id)
	if code != 0 {
		t.Fatalf("prs status: exit %d\n%s", code, errOut)
	}
	// The reports are rewritten a flush after the end.
	var summary string
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(summary, "3 kinds of error") && time.Now().Before(deadline) {
		summary, _ = readFile(filepath.Join(j.output, "logs/user/error.txt"))
		time.Sleep(100 * time.Millisecond)
	}
	debugOut, _, _ := h.prs(time.Minute, "debug", "--entry-script", j.script, "--input", filepath.Join(j.input), "--include", "raise.txt",
		"--", "--state", j.dir)
	for what, text := range map[string]string{
		"summary": stdout, "prs status": status, "error.txt": summary, "node log": j.logs("logs/sys/node"), "prs debug": debugOut,
	} {
		for _, line := range strings.Split(text, "\n") {
			if typ := doubledType(line); typ != "" {
				t.Errorf("%s shows %s twice: %q", what, typ, line)
			}
		}
	}
	for what, text := range map[string]string{"summary": stdout, "prs status": status, "error.txt": summary} {
		for _, want := range []string{"AttributeError: 'NoneType' object has no attribute 'load'",
			"AttributeError: 'NoneType' object has no attribute 'predict'", "Timeout: "} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", what, want, text)
			}
		}
	}
	if !strings.HasPrefix(summary, "3 kinds of error\n") {
		t.Errorf("error.txt:\n%s", summary)
	}
	if !strings.Contains(debugOut, "AttributeError: 'NoneType' object has no attribute 'predict'") {
		t.Errorf("prs debug:\n%s", debugOut)
	}
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

// TestScriptSeesNoCredential: prs run with broker and storage credentials
// in its environment (a NATS URL with a password, a NATS password and
// token, AWS keys) runs a script that dumps its environment: none of them is
// there; a variable named by --environment-passthrough and one set by
// --environment-variable are.
func TestScriptSeesNoCredential(t *testing.T) {
	h := newHarness(t)
	j := newLocalJob(t, `
import json
import os
import sys

def run(mini_batch):
    state = sys.argv[sys.argv.index("--state") + 1]
    with open(os.path.join(state, "env.json"), "w") as f:
        json.dump(dict(os.environ), f)
    return [os.path.basename(p) for p in mini_batch]
`, map[string]string{"a.txt": ""})
	secrets := []string{"url-secret-pw", "nats-secret-pw", "aws-session-secret", minio.SecretKey()}
	env := []string{
		"PRS_NATS_URL=nats://prsuser:url-secret-pw@127.0.0.1:" + itoa(int64(h.port)),
		"PRS_NATS_PASSWORD=nats-secret-pw", "PRS_NATS_USER=prsuser",
		"AWS_ACCESS_KEY_ID=" + minio.AccessKey(), "AWS_SECRET_ACCESS_KEY=" + minio.SecretKey(),
		"AWS_SESSION_TOKEN=aws-session-secret", "MY_VISIBLE=shown", "MY_HIDDEN=hidden-value",
	}
	stdout, stderr, code := j.run(3*time.Minute, env, "--environment-passthrough", "MY_VISIBLE",
		"--environment-variable", "MODEL_NAME=resnet", "--", "--state", j.dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
	}
	dump, err := readFile(filepath.Join(j.dir, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range append(secrets, "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN", "PRS_NATS", "hidden-value") {
		if strings.Contains(dump, s) {
			t.Errorf("the script's environment holds %q", s)
		}
	}
	for _, want := range []string{`"MY_VISIBLE": "shown"`, `"MODEL_NAME": "resnet"`, `"PRS_JOB_ID": "job-`} {
		if !strings.Contains(dump, want) {
			t.Errorf("the script's environment lacks %s:\n%s", want, dump)
		}
	}
}

// strayScript starts, in its first run(), a child in a session of its own
// and a double-forked daemon, writes its pid and theirs to the state
// folder's "stray" file, and hangs.
const strayScript = `
import os
import subprocess
import sys
import time

STATE = sys.argv[sys.argv.index("--state") + 1]

def run(mini_batch):
    child = subprocess.Popen(["sleep", "1000"], start_new_session=True)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        daemon = os.fork()
        if daemon == 0:
            os.execvp("sleep", ["sleep", "1000"])
        os.write(w, str(daemon).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    daemon = int(os.read(r, 32))
    with open(os.path.join(STATE, "stray.tmp"), "w") as f:
        f.write("%d %d %d" % (os.getpid(), child.pid, daemon))
    os.rename(os.path.join(STATE, "stray.tmp"), os.path.join(STATE, "stray"))
    time.sleep(1000)
    return mini_batch
`

// TestNoScriptProcessOutlivesItsWorker: a worker that stops (SIGTERM,
// past its drain timeout) or dies (SIGKILL) in the middle of a run() leaves
// no process of the script behind: not the script, not its child in a
// session of its own, not its double-forked daemon.
func TestNoScriptProcessOutlivesItsWorker(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			h := newHarness(t)
			j := newLocalJob(t, strayScript, map[string]string{"a.txt": ""})
			w := h.worker(1)
			stdout, stderr, code := h.prs(time.Minute, "submit", "--ack-wait", h.ackWait, "--input", j.input, "--output", j.output,
				"--entry-script", j.script, "--run-invocation-timeout", "600", "--allow-reuse=false", "--", "--state", j.dir)
			if code != 0 {
				t.Fatalf("submit: exit %d\n%s%s", code, stdout, stderr)
			}
			var pids []string
			deadline := time.Now().Add(time.Minute)
			for pids == nil {
				if s, err := readFile(filepath.Join(j.dir, "stray")); err == nil {
					pids = strings.Fields(s)
				} else if time.Now().After(deadline) {
					t.Fatal("the script did not start its processes")
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if len(pids) != 3 {
				t.Fatalf("the script wrote %v, want its pid, its child's and its daemon's", pids)
			}
			if err := w.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-w.done:
			case <-time.After(time.Minute):
				t.Fatal("the worker did not stop")
			}
			for _, p := range pids {
				deadline := time.Now().Add(20 * time.Second)
				for pidAlive(p) {
					if time.Now().After(deadline) {
						t.Fatalf("process %s outlived its worker (%s)", p, sig)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
}

// pidAlive reports whether process pid runs (a zombie does not).
func pidAlive(pid string) bool {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
