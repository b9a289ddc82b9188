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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// Bounds of the process's teardown; none of them is on the happy path.
const (
	// exitGrace is how long a process whose response pipe closed gets to
	// exit by itself before it is killed (so that its own status is reported).
	exitGrace = time.Second
	// drainGrace is how long stdout and stderr may stay open after the
	// reaper has ended (a safeguard: the reaper kills whoever holds them).
	drainGrace = 2 * time.Second
	// tailBytes is how much of the end of stderr a crash report keeps.
	tailBytes = 8 << 10
	// tailLines is how many of its last lines a crash report shows.
	tailLines = 20
	// reaperGrace is how long the reaper gets to kill the script's tree and
	// exit before the worker kills the reaper's process group itself.
	reaperGrace = 10 * time.Second
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
	// maxLine bounds a response line, its line break left out (the job's
	// run_result_max_size); 0 is contracts.DefaultRunResultMaxSize.
	maxLine int64
}

// process is one running script process, under its reaper, and the
// goroutines that serve it.
type process struct {
	cmd    *exec.Cmd // the reaper
	pid    int       // the script's
	reaper int       // the reaper's, also its process group's

	reqW  *os.File // fd 3 of the child, our end
	respR *os.File // fd 4 of the child, our end
	outR  *os.File // its stdout, our end
	errR  *os.File // its stderr, our end
	lifeW *os.File // the reaper's lifeline: closing it ends the script's tree
	stat  *bufio.Reader
	life  sync.Once

	resp chan []byte // response lines; closed at EOF of fd 4
	// respErr, set before resp is closed, is why fd 4 stopped being read
	// before its end (a line over maxLine); nil at EOF.
	respErr error
	maxLine int64
	exited  chan struct{} // closed once the reaper has ended, and with it the script's tree
	copied  chan struct{} // closed once stdout and stderr are drained
	quit    chan struct{} // closed by release
	wg      sync.WaitGroup

	status string // how the script ended ("exit status 3"); set before exited is closed
	stderr *tail
}

// start starts the script under its reaper (reaper.go), with fd 3 and fd 4
// as its protocol pipes, in a process group of its own.
func start(c command) (p *process, err error) {
	var files []*os.File // every pipe end, closed if start fails
	defer func() {
		if err != nil {
			for _, f := range files {
				f.Close()
			}
		}
	}()
	var ends [6][2]*os.File // requests, responses, stdout, stderr, lifeline, status
	for i := range ends {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		files = append(files, r, w)
		ends[i] = [2]*os.File{r, w}
	}
	reqR, reqW := ends[0][0], ends[0][1]
	respR, respW := ends[1][0], ends[1][1]
	outR, outW := ends[2][0], ends[2][1]
	errR, errW := ends[3][0], ends[3][1]
	lifeR, lifeW := ends[4][0], ends[4][1]
	statR, statW := ends[5][0], ends[5][1]

	cmd := &exec.Cmd{
		Path: "/proc/self/exe",
		Args: append([]string{reaperName, c.path}, c.args...),
		Dir:  c.dir,
		Env:  append(slices.Clip(c.env), reaperEnv+"=1"),
		// *os.File streams make exec hand the pipes over as they are, with no
		// copying goroutines of its own: Wait returns when the reaper exits.
		Stdin:       lifeR,
		Stdout:      outW,
		Stderr:      errW,
		ExtraFiles:  []*os.File{reqR, respW, statW}, // fd 3, fd 4, fd 5
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// The reaper holds its ends now.
	for _, f := range []*os.File{reqR, respW, outW, errW, lifeR, statW} {
		f.Close()
	}
	stat := bufio.NewReader(statR)
	pid, err := readStarted(stat)
	if err != nil {
		lifeW.Close()
		_ = cmd.Wait()
		return nil, err
	}

	p = &process{
		cmd:     cmd,
		pid:     pid,
		reaper:  cmd.Process.Pid,
		reqW:    reqW,
		respR:   respR,
		outR:    outR,
		errR:    errR,
		lifeW:   lifeW,
		stat:    stat,
		resp:    make(chan []byte),
		exited:  make(chan struct{}),
		copied:  make(chan struct{}),
		quit:    make(chan struct{}),
		stderr:  &tail{w: c.stderr},
		maxLine: c.maxLine,
	}
	if p.maxLine <= 0 {
		p.maxLine = contracts.DefaultRunResultMaxSize
	}
	p.serve(c.stdout, statR)
	return p, nil
}

// serve starts the goroutines of a started process.
func (p *process) serve(stdout io.Writer, statR *os.File) {
	var copies sync.WaitGroup
	copies.Add(2)
	p.wg.Add(5)
	go func() {
		defer p.wg.Done()
		defer copies.Done()
		drain(stdout, p.outR)
	}()
	go func() {
		defer p.wg.Done()
		defer copies.Done()
		drain(p.stderr, p.errR)
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
		_ = p.cmd.Wait() // the reaper's end: the script's whole tree is gone
		if ws, ok := readExit(p.stat); ok {
			p.status = describe(ws)
		} else {
			p.status = "its reaper ended: " + p.cmd.ProcessState.String()
		}
		statR.Close()
		// Whatever is left in the reaper's group goes with it (the reaper
		// kills the tree itself; this is for a reaper that was killed).
		_ = syscall.Kill(-p.reaper, syscall.SIGKILL)
		close(p.exited)
	}()
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

// readResponses sends each line of fd 4 to p.resp and closes it at EOF, or
// at a line longer than p.maxLine (then p.respErr says so, and the rest of
// fd 4 is left unread: the caller kills the process).
func (p *process) readResponses() {
	defer close(p.resp)
	r := bufio.NewReaderSize(p.respR, 64<<10)
	for {
		line, err := readLine(r, p.maxLine)
		if errors.Is(err, errLineTooLong) {
			p.respErr = protocolError("the script wrote a response line of more than %d bytes to fd 4, over the limit that run_result_max_size sets; the process was killed", p.maxLine)
			return
		}
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

// errLineTooLong: a line is longer than its reader allows.
var errLineTooLong = errors.New("line too long")

// readLine reads one line of r, its '\n' included, holding at most most
// bytes of it (the '\n' not counted): a longer line gives errLineTooLong
// once most+1 bytes of it are read. At the end of r it returns what was
// left and the reader's error.
func readLine(r *bufio.Reader, most int64) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		n := int64(len(line) + len(frag))
		if len(frag) > 0 && frag[len(frag)-1] == '\n' {
			n--
		}
		if n > most {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
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
			return p.decode(line, ok)
		case <-ctx.Done():
			select {
			case line, ok := <-p.resp: // an answer that came just in time wins
				return p.decode(line, ok)
			default:
				return nil, ctx.Err()
			}
		}
	}
}

// decode reads a response line; ok false is the end of fd 4.
func (p *process) decode(line []byte, ok bool) (*response, error) {
	if !ok && p.respErr != nil {
		return nil, p.respErr
	}
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

// kill has the reaper kill the script and every process it started: it
// closes the reaper's lifeline.
func (p *process) kill() { p.life.Do(func() { p.lifeW.Close() }) }

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

// abort kills the script's tree, waits for it, and releases everything.
func (p *process) abort() {
	p.kill()
	t := time.NewTimer(reaperGrace)
	select {
	case <-p.exited:
	case <-t.C: // a reaper that does not end (stopped?): its group goes
		_ = syscall.Kill(-p.reaper, syscall.SIGKILL)
		<-p.exited
	}
	t.Stop()
	p.release()
}

// release waits for the goroutines of an exited process and closes its pipes.
func (p *process) release() {
	p.reqW.Close()
	p.kill()
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
	status := p.status
	if status == "" {
		status = "exited"
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
// them, at a cost linear in the bytes written.
type tail struct {
	w   io.Writer
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// At most tailBytes are copied per write, whatever its size.
	keep := b[max(0, len(b)-tailBytes):]
	if over := len(t.buf) + len(keep) - tailBytes; over > 0 {
		t.buf = append(t.buf[:0], t.buf[min(over, len(t.buf)):]...)
	}
	t.buf = append(t.buf, keep...)
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
