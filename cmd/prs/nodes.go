package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// nodes are the local worker processes of prs run with node_count > 1:
// `prs worker` children of this same binary against prs run's NATS server,
// each with process_count_per_node slots. They end with prs run: stop
// drains them, and the kernel kills them if prs run itself dies.
type nodes struct {
	cmds []*exec.Cmd
	done []chan error
	// exited is closed once every process has exited.
	exited  chan struct{}
	running atomic.Int32
	log     *slog.Logger
}

// errNodesExited: every local worker process exited before the job ended.
var errNodesExited = errors.New("every local worker process exited before the job ended")

// startNodes starts n worker processes against url.
func startNodes(n, slots int, url string, embedded bool, level string, cf *common, stderr io.Writer, log *slog.Logger) (*nodes, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("node_count: finding this program to start its workers: %w", err)
	}
	args := []string{"worker", "--slots", strconv.Itoa(slots), "--drain-timeout", "30s",
		"--log-level", level, "--log-format", *cf.logFormat, "--s3-region", *cf.s3Region}
	if *cf.s3Endpoint != "" {
		args = append(args, "--s3-endpoint", *cf.s3Endpoint)
	}
	// Credentials travel in the environment, never on a command line that
	// any user of the machine can read. The embedded server (embedded) is
	// reached without them, as by prs run itself.
	env := append(os.Environ(), "PRS_NATS_URL="+url, "PRS_NATS_USER=", "PRS_NATS_PASSWORD=",
		"PRS_NATS_TOKEN=", "PRS_NATS_CREDS=", "PRS_NATS_NKEY=", "PRS_NATS_TLS_CA=", "PRS_NATS_TLS_CERT=", "PRS_NATS_TLS_KEY=")
	if !embedded {
		env = append(env, "PRS_NATS_USER="+*cf.user, "PRS_NATS_PASSWORD="+*cf.password, "PRS_NATS_TOKEN="+*cf.token,
			"PRS_NATS_CREDS="+*cf.creds, "PRS_NATS_NKEY="+*cf.nkey,
			"PRS_NATS_TLS_CA="+*cf.tlsCA, "PRS_NATS_TLS_CERT="+*cf.tlsCert, "PRS_NATS_TLS_KEY="+*cf.key)
	}
	ns := &nodes{log: log, exited: make(chan struct{})}
	for i := 0; i < n; i++ {
		cmd := exec.Command(exe, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, stderr, stderr
		cmd.SysProcAttr = nodeProcAttr()
		if err := cmd.Start(); err != nil {
			ns.stop(5 * time.Second)
			return nil, fmt.Errorf("node_count: starting worker process %d of %d: %w", i+1, n, err)
		}
		done := make(chan error, 1)
		ns.running.Add(1)
		go func() {
			done <- cmd.Wait()
			if ns.running.Add(-1) == 0 {
				close(ns.exited)
			}
		}()
		ns.cmds, ns.done = append(ns.cmds, cmd), append(ns.done, done)
	}
	log.Info("started local worker processes", "node_count", n, "slots_each", slots)
	return ns, nil
}

// stop sends SIGTERM to every worker process (they drain), and SIGKILL to
// those still running after timeout.
func (ns *nodes) stop(timeout time.Duration) {
	for _, c := range ns.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(timeout)
	for i, done := range ns.done {
		select {
		case err := <-done:
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				ns.log.Warn("local worker process", "pid", ns.cmds[i].Process.Pid, "err", err)
			}
		case <-deadline:
			for j := i; j < len(ns.cmds); j++ {
				_ = ns.cmds[j].Process.Kill()
			}
			for _, d := range ns.done[i:] {
				<-d
			}
			ns.log.Warn("local worker processes did not drain in time; killed", "timeout", timeout)
			return
		}
	}
}
