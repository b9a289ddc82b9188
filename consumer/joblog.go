package consumer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/joblogs"
	"github.com/parallelrun/prs/internal/objstore"
)

// jobLog is a worker's share of a job's log layout: its node record, its
// attempt records, the user code's stdout and stderr, and tracebacks. Lines
// go to local spool files at once (no object write on the hot path); a
// flush every Config.LogFlush puts each changed file whole, so a worker that
// dies loses at most that interval of logs.
type jobLog struct {
	out          objstore.Store
	host, worker string
	dir          string

	mu    sync.Mutex
	files map[string]*spoolFile // by object key
	// watched are files other processes write (the EntryScript logger's):
	// put again when their size changes.
	watched map[string]*watchedFile
	// overviewAt is when this worker last wrote the job's overview.
	overviewAt time.Time
}

type spoolFile struct {
	path  string
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

func newJobLog(out objstore.Store, host, worker, dir string) *jobLog {
	return &jobLog{out: out, host: host, worker: worker, dir: dir, files: map[string]*spoolFile{}}
}

// append adds b to the file that becomes the object key.
func (l *jobLog) append(key string, b []byte) {
	if len(b) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.files[key]
	if f == nil {
		f = &spoolFile{path: filepath.Join(l.dir, filepath.FromSlash(key))}
		l.files[key] = f
		_ = os.MkdirAll(filepath.Dir(f.path), 0o755)
	}
	fh, err := os.OpenFile(f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	_, _ = fh.Write(b)
	_ = fh.Close()
	f.dirty = true
}

// writer returns a writer that appends to key and copies to tee (tee
// alone when logs are off).
func (l *jobLog) writer(key string, tee io.Writer) io.Writer {
	if l == nil {
		return tee
	}
	return writerFunc(func(b []byte) (int, error) {
		l.append(key, b)
		if tee != nil {
			return tee.Write(b)
		}
		return len(b), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// flush puts every changed file.
func (l *jobLog) flush(ctx context.Context) error {
	l.mu.Lock()
	var todo []string
	for key, f := range l.files {
		if f.dirty {
			todo = append(todo, key)
			f.dirty = false
		}
	}
	l.mu.Unlock()
	type put struct{ path, key string }
	var extra []put
	l.mu.Lock()
	for p, wf := range l.watched {
		if fi, err := os.Stat(p); err == nil && fi.Size() != wf.size {
			wf.size = fi.Size()
			extra = append(extra, put{p, wf.key})
		}
	}
	l.mu.Unlock()
	var first error
	for _, e := range extra {
		fh, err := os.Open(e.path)
		if err == nil {
			err = l.out.Put(ctx, e.key, fh)
			fh.Close()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	for _, key := range todo {
		l.mu.Lock()
		path := l.files[key].path
		l.mu.Unlock()
		fh, err := os.Open(path)
		if err == nil {
			err = l.out.Put(ctx, key, fh)
			fh.Close()
		}
		if err != nil {
			l.mu.Lock()
			l.files[key].dirty = true
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
	b, _ := json.Marshal(r)
	l.append(contracts.LogWorkerRecords(l.host, l.worker), append(b, '\n'))
	line := fmt.Sprintf("%s mini-batch %d attempt %d: %d items, %d succeeded, %d failed, %.3fs: %s",
		r.Start.UTC().Format(time.RFC3339Nano), r.Index, r.Attempt, r.Items, r.Succeeded, r.Failed, r.Seconds, r.Result)
	if r.ErrorType != "" {
		line += fmt.Sprintf(" (%s: %s)", r.ErrorType, strings.ReplaceAll(r.Error, "\n", " "))
	}
	l.append(contracts.LogNode(l.host, l.worker), []byte(line+"\n"))
	if r.ErrorType != "" && r.Result != contracts.ResultSucceeded {
		tb := traceback
		if tb == "" {
			tb = r.ErrorType + ": " + r.Error
		}
		l.append(contracts.LogTracebacks(l.host, l.worker), fmt.Appendf(nil,
			"=== mini-batch %d attempt %d (first file %s) at %s: %s\n%s\n\n",
			r.Index, r.Attempt, r.FirstItem, r.Start.UTC().Format(time.RFC3339), r.ErrorType, strings.TrimRight(tb, "\n")))
	}
}

// maintain flushes the worker's logs of a job and, every overviewEvery,
// rewrites the job's overview from its state and counters. When the job has
// ended it rewrites the whole-job reports, merged from every worker's
// records flushed so far.
func (w *Worker) maintain(ctx context.Context, jr *jobRun, ended bool) {
	l := jr.log.Load()
	if l == nil {
		return
	}
	if err := l.flush(ctx); err != nil {
		w.cfg.Logger.Warn("flushing the job's logs", "job", jr.job.ID, "err", err)
	}
	l.mu.Lock()
	due := ended || time.Since(l.overviewAt) >= w.cfg.OverviewEvery
	if due {
		l.overviewAt = time.Now()
	}
	l.mu.Unlock()
	if !due {
		return
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
		err = joblogs.WriteReports(ctx, l.out, jr.job, st, c)
	} else {
		err = joblogs.WriteOverview(ctx, l.out, jr.job, st, c)
	}
	if err != nil {
		w.cfg.Logger.Warn("writing the job's overview", "job", jr.job.ID, "err", err)
	}
}
