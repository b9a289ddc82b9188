package entryscript

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The reaper is a small process between the worker and each script
// process; doc.go explains why. It is the worker's own executable started
// again ("/proc/self/exe") with reaperEnv set: the init function below
// turns that process into the reaper before main runs, in prs and in any
// test binary that imports this package.
//
// Its file descriptors when the worker starts it:
//
//	0  lifeline: the worker holds the other end and never writes; end of
//	   file (the worker closed it, or died) means: end the script now
//	1  the script's stdout, 2 its stderr
//	3  requests, 4 responses: the protocol's pipes, for the script
//	5  status: the reaper writes "started PID\n" once the script runs (or
//	   "error MESSAGE\n"), and "exit WAITSTATUS\n" before it exits
//
// argv is [reaperName, PROGRAM, ARGV0, ARGS...]; the environment is the
// script's, plus reaperEnv, which the script does not get.
const (
	reaperEnv  = "PRS_ENTRYSCRIPT_REAPER"
	reaperName = "prs-reaper"
	// sweepEvery is how often the reaper looks again for descendants while
	// it kills them (new ones may have been forked meanwhile).
	sweepEvery = 10 * time.Millisecond
)

func init() {
	if os.Getenv(reaperEnv) == "1" && len(os.Args) > 0 && os.Args[0] == reaperName {
		os.Exit(reap(os.Args[1:]))
	}
}

// reap runs the program of args (PROGRAM, ARGV0, ARGS...) as the reaper of
// its process tree, and returns the reaper's exit code.
func reap(args []string) int {
	status := os.NewFile(5, "status")
	fail := func(format string, a ...any) int {
		fmt.Fprintf(status, "error "+format+"\n", a...)
		return 127
	}
	if len(args) < 2 {
		return fail("the reaper needs a program and its argv, got %q", args)
	}
	// Orphans of the tree come to the reaper, not to init: it finds every
	// process the script started, and reaps their zombies.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fail("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	setName(reaperName)
	syscall.CloseOnExec(0)
	syscall.CloseOnExec(5)
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fail("%v", err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, reaperEnv+"=") {
			env = append(env, kv)
		}
	}
	pid, err := syscall.ForkExec(args[0], args[1:], &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{devnull.Fd(), 1, 2, 3, 4},
	})
	if err != nil {
		return fail("starting %s: %v", args[0], err)
	}
	fmt.Fprintf(status, "started %d\n", pid)
	// Only the script holds its output and the protocol's pipes now, so
	// that their ends tell the worker when the script's tree is gone.
	for fd := 1; fd <= 4; fd++ {
		_ = syscall.Dup2(int(devnull.Fd()), fd)
	}

	scriptExited, noChildren := make(chan struct{}), make(chan struct{})
	var scriptStatus syscall.WaitStatus
	go func() { // reaps every child: the script and adopted orphans
		for {
			var ws syscall.WaitStatus
			wpid, err := syscall.Wait4(-1, &ws, 0, nil)
			if err == syscall.EINTR {
				continue
			}
			if err != nil { // ECHILD: nothing left of the tree
				close(noChildren)
				return
			}
			if wpid == pid {
				scriptStatus = ws
				close(scriptExited)
			}
		}
	}()
	lifeline := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(lifeline)
	}()

	select {
	case <-scriptExited:
	case <-lifeline:
	case <-signals:
	}
	killDescendants(noChildren)
	fmt.Fprintf(status, "exit %d\n", uint32(scriptStatus))
	return 0
}

// killDescendants kills every process under this one until none is left.
func killDescendants(noChildren <-chan struct{}) {
	self := os.Getpid()
	for {
		for _, pid := range descendants(self) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-noChildren:
			return
		case <-time.After(sweepEvery):
		}
	}
}

// descendants returns the processes under root, from /proc.
func descendants(root int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	var out []int
	todo := []int{root}
	for len(todo) > 0 {
		pid := todo[0]
		todo = todo[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			todo = append(todo, c)
		}
	}
	return out
}

// parentOf reads a process's parent from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// setName names the process (its comm, what ps and logs/perf show) instead
// of "exe".
func setName(name string) {
	b := append([]byte(name), 0)
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
	runtime.KeepAlive(b)
}

// readStarted reads the reaper's first status line: the script's pid.
func readStarted(r *bufio.Reader) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("the script's reaper ended before it started the script: %w", err)
	}
	line = strings.TrimSpace(line)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return 0, fmt.Errorf("%s", msg)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(line, "started "))
	if err != nil {
		return 0, fmt.Errorf("the script's reaper wrote %q", line)
	}
	return pid, nil
}

// readExit reads the reaper's last status line: how the script ended.
func readExit(r *bufio.Reader) (syscall.WaitStatus, bool) {
	line, _ := r.ReadString('\n')
	n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(line, "exit ")), 10, 32)
	return syscall.WaitStatus(n), err == nil && strings.HasPrefix(line, "exit ")
}

// describe says how a process ended, as os.ProcessState.String does.
func describe(ws syscall.WaitStatus) string {
	var s string
	switch {
	case ws.Exited():
		s = "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s = "signal: " + ws.Signal().String()
	default:
		s = fmt.Sprintf("wait status %#x", uint32(ws))
	}
	if ws.CoreDump() {
		s += " (core dumped)"
	}
	return s
}
