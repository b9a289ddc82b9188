package consumer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// jobRun is what a worker keeps of a job it serves: its record, its stores,
// its local copies, and a context cancelled when the job stops.
type jobRun struct {
	job     *contracts.Job
	ctx     context.Context
	cancel  context.CancelCauseFunc
	input   objstore.Store
	staging objstore.Store
	dir     string
	source  string
	script  string
	side    map[string]string
}

// jobs caches the jobs a worker has seen.
type jobs struct {
	w  *Worker
	mu sync.Mutex
	m  map[string]*jobEntry
}

type jobEntry struct {
	once sync.Once
	run  *jobRun
	err  error
}

func (js *jobs) get(ctx context.Context, id string) (*jobRun, error) {
	js.mu.Lock()
	if js.m == nil {
		js.m = map[string]*jobEntry{}
	}
	e, ok := js.m[id]
	if !ok {
		e = &jobEntry{}
		js.m[id] = e
	}
	js.mu.Unlock()
	e.once.Do(func() { e.run, e.err = js.w.prepare(ctx, id) })
	if e.err != nil {
		// Let a later message try again (a transient error, a job not yet visible).
		js.mu.Lock()
		if js.m[id] == e {
			delete(js.m, id)
		}
		js.mu.Unlock()
	}
	return e.run, e.err
}

// stop cancels a job's context when its state becomes terminal.
func (js *jobs) stop(id, reason string) {
	js.mu.Lock()
	e := js.m[id]
	js.mu.Unlock()
	if e == nil {
		return
	}
	e.once.Do(func() { e.err = fmt.Errorf("job %s stopped: %s", id, reason) })
	if e.run != nil {
		e.run.cancel(errJobStopped)
	}
}

func (js *jobs) closeAll() {
	js.mu.Lock()
	defer js.mu.Unlock()
	for _, e := range js.m {
		if e.run != nil {
			e.run.cancel(errors.New("worker stopped"))
		}
	}
}

var errJobStopped = errors.New("the job was stopped")

// prepare reads a job's record, opens its stores and fetches its source
// folder and side inputs once for this worker.
func (w *Worker) prepare(ctx context.Context, id string) (*jobRun, error) {
	l := w.cfg.Ledger
	job, err := l.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	st, _, err := l.State(ctx, id)
	if err != nil {
		return nil, err
	}
	jr := &jobRun{job: job, dir: filepath.Join(w.workDir, "jobs", id)}
	jr.ctx, jr.cancel = context.WithCancelCause(w.ctx)
	if st.Terminal() {
		jr.cancel(errJobStopped)
		return jr, nil
	}
	if jr.input, err = l.Stores.Open(ctx, job.Config.Input); err != nil {
		return nil, err
	}
	if jr.staging, err = l.Stores.Open(ctx, job.Staging); err != nil {
		return nil, err
	}
	jr.source = filepath.Join(jr.dir, "source")
	if err := fetchPrefix(ctx, jr.staging, "source/", jr.source); err != nil {
		return nil, fmt.Errorf("job %s: fetching its source folder: %w", id, err)
	}
	if job.EntryScriptKey != "" {
		jr.script = filepath.Join(jr.source, filepath.FromSlash(job.EntryScriptKey))
	}
	jr.side = map[string]string{}
	for name, uri := range job.Config.SideInputs {
		p, err := w.fetchSideInput(ctx, jr, name, uri)
		if err != nil {
			return nil, fmt.Errorf("job %s: side input %s (%s): %w", id, name, uri, err)
		}
		jr.side[name] = p
	}
	return jr, nil
}

// fetchSideInput returns a local path for a side input: a local path as it
// is, an object as a file, a prefix as a folder.
func (w *Worker) fetchSideInput(ctx context.Context, jr *jobRun, name, uri string) (string, error) {
	if !strings.HasPrefix(uri, "s3://") {
		p := strings.TrimPrefix(uri, "file://")
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return filepath.Abs(p)
	}
	dir, base := path.Split(strings.TrimSuffix(uri, "/"))
	parent, err := w.cfg.Ledger.Stores.Open(ctx, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return "", err
	}
	dst := filepath.Join(jr.dir, "side_inputs", name)
	if _, err := parent.Stat(ctx, base); err == nil {
		file := filepath.Join(dst, base)
		return file, fetchObject(ctx, parent, base, file)
	}
	if err := fetchPrefix(ctx, parent, base+"/", dst); err != nil {
		return "", err
	}
	if _, err := os.Stat(dst); err != nil {
		return "", fmt.Errorf("%w: nothing at %s", objstore.ErrNotFound, uri)
	}
	return dst, nil
}

// fetchPrefix copies every object under prefix into dir, keeping the rest
// of each key as its relative path.
func fetchPrefix(ctx context.Context, s objstore.Store, prefix, dir string) error {
	return s.List(ctx, prefix, func(o objstore.ObjectInfo) error {
		rel := strings.TrimPrefix(o.Key, prefix)
		return fetchObject(ctx, s, o.Key, filepath.Join(dir, filepath.FromSlash(rel)))
	})
}

func fetchObject(ctx context.Context, s objstore.Store, key, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rc, err := s.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
