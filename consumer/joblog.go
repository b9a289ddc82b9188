package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/internal/objstore"
)

// jobLog is a worker's share of a job's log layout: its node record, its
// attempt records, the user code's stdout and stderr, and tracebacks. Lines
// go to local spool files at once (no object write on the hot path); a
// flush every Config.LogFlush puts each changed file whole, so a worker that
// dies loses at most that interval of logs. A file that passes rotateBytes
// is put a last time and continued in a next part ("<name>.2.txt", ...), so
// that a long job does not put ever larger files.
type jobLog struct {
	out          objstore.Store
	job          string
	host, worker string
	dir          string

	flushMu sync.Mutex // one flush at a time: a later put never loses to an earlier one

	mu      sync.Mutex
	files   map[string]*spoolFile // by object key (of a part)
	current map[string]*spoolFile // by the key the layout names: its open part
	// watched are files other processes write (the EntryScript logger's):
	// put again when their size changes.
	watched map[string]*watchedFile
	// overviewAt and flushedAt are when this worker last wrote the job's
	// overview and flushed its files from the log keeper.
	overviewAt, flushedAt time.Time
}

// rotateBytes is the size at which a log file continues in a next part.
const rotateBytes = 8 << 20

type spoolFile struct {
	key   string
	path  string
	part  int
	fh    *os.File // nil once the part is closed
	size  int64
	dirty bool
}

type watchedFile struct {
	key  string
	size int64
}

// watch puts the local file at path as key whenever it has grown.
func (l *jobLog) watch(path, key string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.watched == nil {
		l.watched = map[string]*watchedFile{}
	}
	if l.watched[path] == nil {
		l.watched[path] = &watchedFile{key: key}
	}
}

func newJobLog(out objstore.Store, job, host, worker, dir string) *jobLog {
	return &jobLog{out: out, job: job, host: host, worker: worker, dir: dir,
		files: map[string]*spoolFile{}, current: map[string]*spoolFile{}}
}

// partKey names part n of a log file: "a/w.txt", "a/w.2.txt", ...
func partKey(key string, n int) string {
	if n <= 1 {
		return key
	}
	ext := path.Ext(key)
	return fmt.Sprintf("%s.%d%s", strings.TrimSuffix(key, ext), n, ext)
}

// append adds b to the file that becomes the object key.
func (l *jobLog) append(key string, b []byte) {
	if len(b) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.current[key]
	if f != nil && f.size > 0 && f.size+int64(len(b)) > rotateBytes {
		if f.fh != nil {
			_ = f.fh.Close()
			f.fh = nil
		}
		f = l.open(key, f.part+1)
	}
	if f == nil {
		f = l.open(key, 1)
	}
	if f.fh == nil {
		return
	}
	n, _ := f.fh.Write(b)
	f.size += int64(n)
	f.dirty = true
}

// open starts part n of key; l.mu is held.
func (l *jobLog) open(key string, n int) *spoolFile {
	k := partKey(key, n)
	f := &spoolFile{key: k, path: filepath.Join(l.dir, filepath.FromSlash(k)), part: n}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err == nil {
		f.fh, _ = os.OpenFile(f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	l.files[k], l.current[key] = f, f
	return f
}

// close closes the spool files (after a last flush).
func (l *jobLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range l.files {
		if f.fh != nil {
			_ = f.fh.Close()
			f.fh = nil
		}
	}
}

// maxLineBytes bounds a line of the user's output in the job's logs: a
// longer line (or output without line breaks) is cut into lines of at most
// this many bytes, at a UTF-8 character boundary where there is one nearby.
// No byte is dropped; only line breaks are added.
const maxLineBytes = 64 << 10

// lineWriter hands whole lines to its jobLog file, so that the output of
// several slots' processes sharing one file never mixes within a line. Its
// cost is linear in the bytes written, with or without line breaks: each
// write looks at its own bytes only, and a pending line never grows past
// maxLineBytes.
type lineWriter struct {
	mu   sync.Mutex
	l    *jobLog
	key  string
	tee  io.Writer
	part []byte // the pending line, without its newline; at most maxLineBytes
	out  []byte // the lines of one Write, handed over at once
}

// lines returns a lineWriter for key that also copies to tee (tee alone
// when logs are off).
func (l *jobLog) lines(key string, tee io.Writer) *lineWriter {
	return &lineWriter{l: l, key: key, tee: tee}
}

func (w *lineWriter) Write(b []byte) (int, error) {
	if w.l != nil {
		w.mu.Lock()
		w.out = w.out[:0]
		for rest := b; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				w.take(rest)
				break
			}
			if len(w.part) == 0 && i <= maxLineBytes {
				w.out = append(w.out, rest[:i+1]...) // the usual case: no copy into part
			} else {
				w.take(rest[:i])
				w.out = append(append(w.out, w.part...), '\n')
				w.part = w.part[:0]
			}
			rest = rest[i+1:]
		}
		if len(w.out) > 0 {
			w.l.append(w.key, w.out)
		}
		if cap(w.out) > 4*maxLineBytes {
			w.out = nil // do not keep a large buffer for one large write
		}
		w.mu.Unlock()
	}
	if w.tee != nil {
		return w.tee.Write(b)
	}
	return len(b), nil
}

// take adds seg, which holds no newline, to the pending line, and moves a
// line of at most maxLineBytes to w.out each time the pending line would
// grow longer than that.
func (w *lineWriter) take(seg []byte) {
	for len(seg) > 0 {
		room := maxLineBytes + 1 - len(w.part)
		if len(seg) < room {
			w.part = append(w.part, seg...)
			return
		}
		w.part = append(w.part, seg[:room]...) // maxLineBytes+1 bytes
		seg = seg[room:]
		n := cutAt(w.part)
		w.out = append(append(w.out, w.part[:n]...), '\n')
		w.part = append(w.part[:0], w.part[n:]...) // a few bytes
	}
}

// cutAt returns where to cut a line longer than maxLineBytes (b holds its
// first maxLineBytes+1 bytes): before the UTF-8 character that would be
// split, when its start is among the last few bytes, else at maxLineBytes.
func cutAt(b []byte) int {
	for n := maxLineBytes; n > maxLineBytes-utf8.UTFMax; n-- {
		if utf8.RuneStart(b[n]) {
			return n
		}
	}
	return maxLineBytes
}

// Close hands over a last line without its newline.
func (w *lineWriter) Close() error {
	if w.l == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.part) > 0 {
		w.l.append(w.key, append(w.part, '\n'))
		w.part = nil
	}
	return nil
}

// flush puts every changed file.
func (l *jobLog) flush(ctx context.Context) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	type put struct{ path, key string }
	var todo []put
	var parts []*spoolFile
	l.mu.Lock()
	for _, f := range l.files {
		if f.dirty {
			f.dirty = false
			todo = append(todo, put{f.path, f.key})
			parts = append(parts, f)
		}
	}
	for p, wf := range l.watched {
		if fi, err := os.Stat(p); err == nil && fi.Size() != wf.size {
			wf.size = fi.Size()
			todo = append(todo, put{p, wf.key})
			parts = append(parts, nil)
		}
	}
	l.mu.Unlock()
	var first error
	for i, t := range todo {
		fh, err := os.Open(t.path)
		if err == nil {
			err = l.out.Put(ctx, t.key, fh)
			fh.Close()
		}
		if err != nil {
			l.mu.Lock()
			if f := parts[i]; f != nil {
				f.dirty = true // put again next time
			} else if wf := l.watched[t.path]; wf != nil {
				wf.size = -1
			}
			l.mu.Unlock()
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// attempt records one attempt: a row of the job report, a line of the
// node log, and the traceback of a failure.
func (l *jobLog) attempt(r contracts.AttemptRecord, traceback string) {
	r.Job = l.job
	// A key that is not UTF-8 (a local file name) is shown readably.
	r.FirstItem, r.Error, traceback = printable(r.FirstItem), printable(r.Error), printable(traceback)
	b, _ := json.Marshal(r)
	l.append(contracts.LogWorkerRecords(l.host, l.worker), append(b, '\n'))
	// A part of an isolation names its items: "mini-batch 3 attempt 1, items 0-24".
	what := fmt.Sprintf("mini-batch %d attempt %d", r.Index, r.Attempt)
	if r.Part != "" {
		what += ", " + r.Part
	}
	line := fmt.Sprintf("%s %s: %d items, %d succeeded, %d failed, %.3fs: %s",
		r.Start.UTC().Format(time.RFC3339Nano), what, r.Items, r.Succeeded, r.Failed, r.Seconds, r.Result)
	if r.ExtraCalls > 0 {
		line += fmt.Sprintf(" after isolating with %d extra run() calls", r.ExtraCalls)
	}
	if r.ErrorType != "" {
		line += fmt.Sprintf(" (%s: %s)", r.ErrorType, strings.ReplaceAll(r.Error, "\n", " "))
	}
	l.append(contracts.LogNode(l.host, l.worker), []byte(line+"\n"))
	// A succeeded mini-batch may still hold failed items (malformed rows).
	// A part that was split again has no traceback of its own: its items'
	// records have theirs.
	if r.ErrorType != "" && r.Result != contracts.ResultSplit && (r.Result != contracts.ResultSucceeded || traceback != "") {
		tb := traceback
		if tb == "" {
			tb = r.ErrorType + ": " + r.Error
		}
		l.append(contracts.LogTracebacks(l.host, l.worker), fmt.Appendf(nil,
			"=== %s (first file %s) at %s: %s\n%s\n\n",
			what, r.FirstItem, r.Start.UTC().Format(time.RFC3339), r.ErrorType, strings.TrimRight(tb, "\n")))
	}
}

// maintain flushes the worker's logs of a job and, every overviewEvery,
// rewrites the job's overview from its state and counters. When the job has
// ended it rewrites the whole-job reports, merged from every worker's
// records flushed so far.
func (w *Worker) maintain(ctx context.Context, jr *jobRun, ended bool) {
	if !ended {
		w.renewOutput(ctx, jr)
	}
	if jr.hold.isLost() {
		return // the output is another job's now: write nothing there
	}
	l := jr.log.Load()
	if l == nil {
		return
	}
	l.mu.Lock()
	flushDue := ended || time.Since(l.flushedAt) >= w.cfg.LogFlush
	if flushDue {
		l.flushedAt = time.Now()
	}
	l.mu.Unlock()
	if flushDue {
		if err := l.flush(ctx); err != nil {
			w.cfg.Logger.Warn("flushing the job's logs", "job", jr.job.ID, "err", err)
		}
	}
	l.mu.Lock()
	due := ended || time.Since(l.overviewAt) >= w.cfg.OverviewEvery
	if due {
		l.overviewAt = time.Now()
	}
	l.mu.Unlock()
	if !due || (!ended && jr.stopped()) {
		return
	}
	if ended {
		// Every worker flushes when it sees the end; give their last
		// flushes time to land so that the merged report is whole.
		select {
		case <-ctx.Done():
			return
		case <-w.ctx.Done(): // this worker is stopping: write them now
		case <-time.After(w.cfg.LogFlush + time.Duration(rand.Int64N(int64(time.Second)))):
		}
	}
	led := w.cfg.Ledger
	st, _, err := led.State(ctx, jr.job.ID)
	if err != nil {
		return
	}
	c, err := led.B.ReadCounters(ctx, jr.job.ID)
	if err != nil {
		return
	}
	if st.Terminal() {
		var outcomes []contracts.BatchOutcome
		if outcomes, err = led.Outcomes(ctx, jr.job.ID); err == nil {
			err = joblogs.WriteReports(ctx, l.out, jr.job, st, c, outcomes)
		}
	} else {
		err = joblogs.WriteOverview(ctx, l.out, jr.job, st, c)
	}
	if err != nil {
		w.cfg.Logger.Warn("writing the job's overview", "job", jr.job.ID, "err", err)
	}
}

// printable returns s with each byte that is not UTF-8 written as \xNN, as
// Python shows such a byte in bytes (a file named b"bad\xffname.txt").
func printable(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
