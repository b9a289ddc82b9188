package entryscript

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
)

// strayScript leaves processes behind on "/spawn": a child in a session of
// its own (subprocess.Popen(start_new_session=True)), a double-forked
// daemon (its parent exits, so it is an orphan), and a double-forked one
// that exits after a moment by itself. It writes their pids, one a line,
// after its own, to the output file "stray". "/hang" hangs, "/exit" makes
// the script exit with status 3.
const strayScript = `
import os
import subprocess
import time

from azureml_user.parallel_run import EntryScript

OUT = EntryScript().output_dir

def daemon(argv):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        grandchild = os.fork()
        if grandchild == 0:
            os.execvp(argv[0], argv)
        os.write(w, str(grandchild).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    return int(os.read(r, 32))

def run(mini_batch):
    if mini_batch[0] == "/spawn":
        child = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        pids = [os.getpid(), child.pid, daemon(["sleep", "1000"]), daemon(["sleep", "0.2"])]
        with open(os.path.join(OUT, "stray.tmp"), "w") as f:
            f.write("\n".join(str(p) for p in pids))
        os.rename(os.path.join(OUT, "stray.tmp"), os.path.join(OUT, "stray"))
    if mini_batch[0] == "/hang":
        time.sleep(1000)
    if mini_batch[0] == "/exit":
        os._exit(3)
    return mini_batch
`

// proc is a process the test watches: its pid and start time, so that a
// pid used again by another process does not pass for it.
type proc struct {
	pid   int
	start string
}

// strays reads the pids strayScript wrote, with their start times.
func (b *testBundle) strays(t *testing.T) []proc {
	t.Helper()
	data, err := os.ReadFile(b.output("stray"))
	if err != nil {
		t.Fatalf("the script wrote no pids: %v", err)
	}
	var ps []proc
	for _, f := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, proc{pid, startTime(pid)})
	}
	return ps
}

// startTime is field 22 of /proc/PID/stat ("" when the process is gone).
func startTime(pid int) string {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return f[19]
}

// vanished reports whether p is gone and reaped: no process with its pid
// and start time, not even a zombie.
func (p proc) vanished() bool {
	if err := syscall.Kill(p.pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	return startTime(p.pid) != p.start
}

// waitVanished waits until every process of ps has vanished.
func waitVanished(t *testing.T, ps []proc) {
	t.Helper()
	for _, p := range ps {
		waitFor(t, 15*time.Second, fmt.Sprintf("process %d to vanish", p.pid), p.vanished)
	}
}

// TestNoProcessOutlivesTheScript: whatever a script started, in its own
// session or double-forked, is killed and reaped when run() times out, when
// the script process dies, and when the handler closes; a daemon that exits
// by itself while the script runs is reaped at once.
func TestNoProcessOutlivesTheScript(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		end  func(t *testing.T, h consumer.Handler)
	}{
		{"run() times out", func(t *testing.T, h consumer.Handler) {
			_, err := h.Run(timeout(t, time.Second), batch("/hang"))
			if !errors.Is(err, consumer.ErrRunTimeout) {
				t.Fatalf("got %v, want ErrRunTimeout", err)
			}
		}},
		{"the script dies", func(t *testing.T, h consumer.Handler) {
			_, err := h.Run(timeout(t, time.Minute), batch("/exit"))
			if se := scriptError(t, err); se.Type != "Crash" || !strings.Contains(se.Message, "exit status 3") {
				t.Fatalf("got %v, want a Crash with exit status 3", err)
			}
		}},
		{"Close", func(t *testing.T, h consumer.Handler) {
			if err := h.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, strayScript)
			h := b.handler(t, Options{})
			run(t, h, batch("/spawn"))
			ps := b.strays(t)
			for _, p := range ps[:3] {
				if p.vanished() {
					t.Fatalf("process %d is gone before the script ended", p.pid)
				}
			}
			// The short-lived daemon, an orphan the reaper adopted, is
			// reaped when it exits: no zombie is left while the script runs.
			waitVanished(t, ps[3:])
			tc.end(t, h)
			waitVanished(t, ps)
		})
	}
}
