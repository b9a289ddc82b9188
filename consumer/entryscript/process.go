package entryscript

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parallelrun/prs/consumer"
)

// Bounds of the process's teardown; none of them is on the happy path.
const (
	// exitGrace is how long a process whose response pipe closed gets to
	// exit by itself before it is killed (so that its own status is reported).
	exitGrace = time.Second
	// drainGrace is how long stdout and stderr may stay open after the
	// process group is dead (held by a process that left the group).
	drainGrace = 2 * time.Second
	// tailBytes is how much of the end of stderr a crash report keeps.
	tailBytes = 8 << 10
	// tailLines is how many of its last lines a crash report shows.
	tailLines = 20
)

// errExited is returned by call when the process can no longer answer.
var errExited = errors.New("entry script process exited")

// command is how to start a script process.
type command struct {
	path   string   // the interpreter's resolved path
	args   []string // argv, args[0] included
	dir    string   // working directory
	env    []string // full environment
	stdout io.Writer
	stderr io.Writer
}

// process is one running script process and the goroutines that serve it.
type process struct {
	cmd *exec.Cmd
	pid int

	reqW  *os.File // fd 3 of the child, our end
	respR *os.File // fd 4 of the child, our end
	outR  *os.File // its stdout, our end
	errR  *os.File // its stderr, our end

	resp   chan []byte   // response lines; closed at EOF of fd 4
	exited chan struct{} // closed once the process is reaped and its group killed
	copied chan struct{} // closed once stdout and stderr are drained
	quit   chan struct{} // closed by release
	wg     sync.WaitGroup

	state  *os.ProcessState // set before exited is closed
	stderr *tail
}

// start starts the process with fd 3 and fd 4 as its protocol pipes, in a
// process group of its own.
func start(c command) (p *process, err error) {
	var files []*os.File // every pipe end, closed if start fails
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	reqR, reqW, err := pipe()
	if err != nil {
		return nil, err
	}
	respR, respW, err := pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		return nil, err
	}

	cmd := &exec.Cmd{
		Path: c.path,
		Args: c.args,
		Dir:  c.dir,
		Env:  c.env,
		// *os.File streams make exec hand the pipes over as they are, with no
		// copying goroutines of its own: Wait returns when the process exits.
		Stdout:      outW,
		Stderr:      errW,
		ExtraFiles:  []*os.File{reqR, respW}, // fd 3, fd 4
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The child holds its ends now.
	for _, f := range []*os.File{reqR, respW, outW, errW} {
		f.Close()
	}

	p = &process{
		cmd:    cmd,
		pid:    cmd.Process.Pid,
		reqW:   reqW,
		respR:  respR,
		outR:   outR,
		errR:   errR,
		resp:   make(chan []byte),
		exited: make(chan struct{}),
		copied: make(chan struct{}),
		quit:   make(chan struct{}),
		stderr: &tail{w: c.stderr},
	}
	var copies sync.WaitGroup
	copies.Add(2)
	p.wg.Add(5)
	go func() {
		defer p.wg.Done()
		defer copies.Done()
		drain(c.stdout, outR)
	}()
	go func() {
		defer p.wg.Done()
		defer copies.Done()
		drain(p.stderr, errR)
	}()
	go func() {
		defer p.wg.Done()
		copies.Wait()
		close(p.copied)
	}()
	go func() {
		defer p.wg.Done()
		p.readResponses()
	}()
	go func() {
		defer p.wg.Done()
		_ = cmd.Wait() // the status is in cmd.ProcessState
		p.state = cmd.ProcessState
		// Whatever the script left running in its group goes with it.
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		close(p.exited)
	}()
	return p, nil
}

// drain copies src to dst until src ends. When dst fails, the rest is read
// and dropped so that the script never blocks on a full pipe.
func drain(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				dst = nil
			}
		}
		if err != nil {
			return
		}
	}
}

// readResponses sends each line of fd 4 to p.resp and closes it at EOF.
func (p *process) readResponses() {
	defer close(p.resp)
	r := bufio.NewReaderSize(p.respR, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			select {
			case p.resp <- line:
			case <-p.quit:
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// call sends req and waits for its response, the end of ctx, or the end of
// the process. It returns ctx's error, errExited, or a protocol ScriptError.
func (p *process) call(ctx context.Context, req *request) (*response, error) {
	line, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	line = append(line, '\n')
	written := make(chan error, 1)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, err := p.reqW.Write(line)
		written <- err
	}()
	for {
		select {
		case err := <-written:
			written = nil
			if err != nil {
				return nil, errExited // the script closed fd 3 or died
			}
		case line, ok := <-p.resp:
			return decode(line, ok)
		case <-ctx.Done():
			select {
			case line, ok := <-p.resp: // an answer that came just in time wins
				return decode(line, ok)
			default:
				return nil, ctx.Err()
			}
		}
	}
}

func decode(line []byte, ok bool) (*response, error) {
	if !ok {
		return nil, errExited
	}
	var r response
	err := json.Unmarshal(line, &r)
	if t := bytes.TrimLeft(line, " \t\r\n"); err == nil && (len(t) == 0 || t[0] != '{') {
		err = errors.New("not a JSON object") // null decodes into nothing
	}
	if err != nil {
		const most = 200
		if len(line) > most {
			line = line[:most]
		}
		return nil, protocolError("the script wrote %q to fd 4, which is not a response: %v", line, err)
	}
	return &r, nil
}

// kill kills the process's whole group.
func (p *process) kill() { _ = syscall.Kill(-p.pid, syscall.SIGKILL) }

// stop closes the script's requests (it exits at their end), waits up to
// grace for it to exit, then kills its group and releases everything.
func (p *process) stop(grace time.Duration) {
	p.reqW.Close()
	if grace > 0 {
		t := time.NewTimer(grace)
		select {
		case <-p.exited:
		case <-t.C:
		}
		t.Stop()
	}
	p.abort()
}

// abort kills the process group, waits for it, and releases everything.
func (p *process) abort() {
	p.kill()
	<-p.exited
	p.release()
}

// release waits for the goroutines of an exited process and closes its pipes.
func (p *process) release() {
	p.reqW.Close()
	t := time.NewTimer(drainGrace)
	select {
	case <-p.copied:
	case <-t.C:
		// Someone outside the group holds stdout or stderr: stop reading.
		p.outR.Close()
		p.errR.Close()
	}
	t.Stop()
	close(p.quit)
	p.respR.Close()
	p.wg.Wait()
	p.outR.Close()
	p.errR.Close()
}

// awaitExit gives a process whose fd 4 closed a moment to exit by itself.
func (p *process) awaitExit() {
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
	}
}

// crash describes the death of an exited process during phase.
func (p *process) crash(phase string) *consumer.ScriptError {
	status := "exited"
	if p.state != nil {
		status = p.state.String()
	}
	lines := p.stderr.lines(tailLines)
	msg := fmt.Sprintf("the entry script process died during %s (%s)", phase, status)
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); s != "" {
			msg += "; last stderr line: " + s
			break
		}
	}
	tb := ""
	if len(lines) > 0 {
		tb = "last lines of stderr:\n" + strings.Join(lines, "\n")
	}
	return &consumer.ScriptError{Type: "Crash", Message: msg, Traceback: tb}
}

// tail forwards writes to w, until w fails, and keeps the last tailBytes of
// them.
type tail struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	if t.w != nil {
		if _, err := t.w.Write(b); err != nil {
			t.w = nil
		}
	}
	return len(b), nil
}

// lines returns up to n last lines kept, the first possibly cut.
func (t *tail) lines(n int) []string {
	t.mu.Lock()
	s := strings.TrimRight(string(t.buf), "\n")
	t.mu.Unlock()
	if s == "" {
		return nil
	}
	all := strings.Split(s, "\n")
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}
