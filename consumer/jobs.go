package consumer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/retry"
)

// jobRun is what a worker keeps of a job it serves: its record, a context
// cancelled with errJobStopped when the job ends, and, once prepared, its
// stores and local copies.
type jobRun struct {
	job *contracts.Job
	// total is the job's number of mini-batches once it is sealed (its
	// state says it is final from then on), 0 before: read with the job,
	// or learned from the worker's watch of job states when an open job
	// (a prs watch window) is sealed while the worker serves it.
	total  atomic.Int64
	ctx    context.Context
	cancel context.CancelCauseFunc
	dir    string

	mu       sync.Mutex
	prepared bool
	input    objstore.Store
	staging  objstore.Store
	source   string
	script   string
	side     map[string]string
	models   map[string]string // the script's models: name to local path
	model    string
	labels   string
	log      atomic.Pointer[jobLog] // nil until prepared
	hold     outputHold             // renewals of the output's lock (outputlock.go)
}

// stopped reports whether the job has ended (not merely this worker).
func (jr *jobRun) stopped() bool { return errors.Is(context.Cause(jr.ctx), errJobStopped) }

// jobs caches the jobs a worker serves, until they end.
type jobs struct {
	w  *Worker
	mu sync.Mutex
	m  map[string]*jobRun
}

// get returns a job's run, reading its record and state the first time.
func (js *jobs) get(ctx context.Context, id string) (*jobRun, error) {
	js.mu.Lock()
	jr := js.m[id]
	js.mu.Unlock()
	if jr != nil {
		return jr, nil
	}
	l := js.w.cfg.Ledger
	job, err := l.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	st, _, err := l.State(ctx, id)
	if err != nil {
		return nil, err
	}
	jr = &jobRun{job: job, dir: filepath.Join(js.w.workDir, "jobs", id)}
	if st.Sealed {
		jr.total.Store(st.TotalBatches)
	}
	jr.ctx, jr.cancel = context.WithCancelCause(context.Background())
	if st.Terminal() {
		jr.cancel(errJobStopped)
		return jr, nil // not cached: a late duplicate of an ended job
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.m == nil {
		js.m = map[string]*jobRun{}
	}
	if prev := js.m[id]; prev != nil {
		jr.cancel(nil)
		return prev, nil
	}
	js.m[id] = jr
	return jr, nil
}

// stop cancels a job's context when its state becomes terminal and forgets
// it; it returns the job's run (nil when this worker did not serve it).
func (js *jobs) stop(id string) *jobRun {
	js.mu.Lock()
	jr := js.m[id]
	delete(js.m, id)
	js.mu.Unlock()
	if jr != nil {
		jr.cancel(errJobStopped)
	}
	return jr
}

// sealed notes the total of a job being served once its state says it is
// sealed: from then on, its workers need not read its state to know
// whether a mini-batch was its last.
func (js *jobs) sealed(id string, total int64) {
	js.mu.Lock()
	jr := js.m[id]
	js.mu.Unlock()
	if jr != nil {
		jr.total.Store(total)
	}
}

// all returns the jobs being served.
func (js *jobs) all() []*jobRun {
	js.mu.Lock()
	defer js.mu.Unlock()
	out := make([]*jobRun, 0, len(js.m))
	for _, jr := range js.m {
		out = append(out, jr)
	}
	return out
}

func (js *jobs) closeAll() []*jobRun {
	js.mu.Lock()
	defer js.mu.Unlock()
	var out []*jobRun
	for id, jr := range js.m {
		jr.cancel(errors.New("worker stopped"))
		delete(js.m, id)
		out = append(out, jr)
	}
	return out
}

// errJobStopped is the cause of a job's context once the job has ended.
var errJobStopped = retry.Permanent(errors.New("the job was stopped"))

// prepare opens a job's stores and fetches its source folder and side
// inputs, once per worker; a failure is tried again by the next message.
func (w *Worker) prepare(ctx context.Context, jr *jobRun) error {
	jr.mu.Lock()
	defer jr.mu.Unlock()
	if jr.prepared {
		return nil
	}
	l, job := w.cfg.Ledger, jr.job
	var err error
	if jr.input, err = l.Stores.Open(ctx, job.Config.Input); err != nil {
		return err
	}
	if jr.staging, err = l.Stores.Open(ctx, job.Staging); err != nil {
		return err
	}
	out, err := l.Stores.Open(ctx, job.Config.Output)
	if err != nil {
		return err
	}
	if jr.log.Load() == nil && !w.cfg.NoLogs {
		jr.log.Store(newJobLog(out, job.ID, w.cfg.Host, w.cfg.Name, filepath.Join(jr.dir, "logs-spool")))
		if every := job.Config.ResourceMonitorInterval; every > 0 {
			w.watchWG.Add(1)
			go func() {
				defer w.watchWG.Done()
				ctx, cancel := context.WithCancel(w.ctx)
				defer cancel()
				stop := context.AfterFunc(jr.ctx, cancel)
				defer stop()
				w.monitor(ctx, jr, time.Duration(every)*time.Second)
			}()
		}
	}
	jr.source = filepath.Join(jr.dir, "source")
	if err := os.RemoveAll(jr.source); err != nil {
		return err
	}
	if err := fetchPrefix(ctx, jr.staging, "source/", jr.source); err != nil {
		return fmt.Errorf("fetching the job's source folder: %w", err)
	}
	if job.EntryScriptKey != "" {
		jr.script = filepath.Join(jr.source, filepath.FromSlash(job.EntryScriptKey))
	}
	jr.side = map[string]string{}
	for name, uri := range job.Config.SideInputs {
		p, err := w.fetchSideInput(ctx, jr, name, uri)
		if err != nil {
			return fmt.Errorf("side input %s (%s): %w", name, uri, err)
		}
		jr.side[name] = p
	}
	if jr.models, err = w.fetchScriptModels(ctx, jr); err != nil {
		return err
	}
	if err := w.fetchModel(ctx, jr); err != nil {
		return err
	}
	jr.prepared = true
	return nil
}

// fetchModel gives handler onnx's model and labels local paths. Models are
// cached in the worker's folder by content hash, across jobs.
func (w *Worker) fetchModel(ctx context.Context, jr *jobRun) error {
	job := jr.job
	if job.ModelKey == "" {
		return nil
	}
	jr.model = filepath.Join(w.workDir, "models", job.ModelHash+".onnx")
	if err := w.cacheModel(ctx, jr); err != nil {
		return fmt.Errorf("fetching the model: %w", err)
	}
	labels := ""
	if job.Config.ONNX != nil {
		labels = job.Config.ONNX.Labels
	}
	switch {
	case labels == "":
	case jr.side[labels] != "":
		jr.labels = jr.side[labels]
	case job.LabelsKey != "":
		jr.labels = filepath.Join(jr.dir, filepath.FromSlash(job.LabelsKey))
		return objstore.Download(ctx, jr.staging, job.LabelsKey, jr.labels)
	default:
		p, err := w.fetchSideInput(ctx, jr, "onnx-labels", labels)
		if err != nil {
			return fmt.Errorf("fetching the labels: %w", err)
		}
		jr.labels = p
	}
	return nil
}

// cacheModel fetches a job's model into the worker's cache unless it is
// there. One fetch per model at a time (slots of several jobs may want the
// same model); the file appears whole, by rename, or not at all.
func (w *Worker) cacheModel(ctx context.Context, jr *jobRun) error {
	job := jr.job
	mu := w.modelLock(job.ModelHash)
	mu.Lock()
	defer mu.Unlock()
	if _, err := os.Stat(jr.model); err == nil {
		return nil
	}
	src, key := jr.staging, job.ModelKey
	if strings.HasPrefix(job.ModelKey, "s3://") {
		i := strings.LastIndex(job.ModelKey, "/")
		var err error
		if src, err = w.cfg.Ledger.Stores.Open(ctx, job.ModelKey[:i]); err != nil {
			return err
		}
		key = job.ModelKey[i+1:]
		info, err := src.Stat(ctx, key)
		if err != nil {
			return err
		}
		if job.ModelETag != "" && info.ETag != job.ModelETag {
			return fmt.Errorf("%w: %s (ETag %s, was %s)", errModelChanged, job.ModelKey, info.ETag, job.ModelETag)
		}
	}
	if err := os.MkdirAll(filepath.Dir(jr.model), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(jr.model), ".fetch-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	rc, err := src.Get(ctx, key)
	if err != nil {
		tmp.Close()
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), rc)
	rc.Close()
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !strings.HasPrefix(job.ModelKey, "s3://") && hex.EncodeToString(h.Sum(nil)) != job.ModelHash {
		return fmt.Errorf("%w: the shipped %s does not match its hash", errModelChanged, job.ModelKey)
	}
	return os.Rename(tmp.Name(), jr.model)
}

// errModelChanged: the model is not the one the job was submitted with.
var errModelChanged = retry.Permanent(errors.New("the model changed since the job was submitted"))

func (w *Worker) modelLock(hash string) *sync.Mutex {
	w.modelMu.Lock()
	defer w.modelMu.Unlock()
	if w.models == nil {
		w.models = map[string]*sync.Mutex{}
	}
	if w.models[hash] == nil {
		w.models[hash] = &sync.Mutex{}
	}
	return w.models[hash]
}

// fetchSideInput gives a job's side input a local path (FetchSideInput)
// under the job's folder.
func (w *Worker) fetchSideInput(ctx context.Context, jr *jobRun, name, uri string) (string, error) {
	return FetchSideInput(ctx, w.cfg.Ledger.Stores, uri, filepath.Join(jr.dir, "side_inputs", name))
}

// StoreOpener opens object stores by URI (*ledger.Stores does).
type StoreOpener interface {
	Open(ctx context.Context, uri string) (objstore.Store, error)
}

// FetchSideInput returns a local path for a side input, as a worker and
// prs debug give it to the script: a local path (or file:// URI) as it is,
// an object as a file under dir, a prefix as the folder dir.
func FetchSideInput(ctx context.Context, stores StoreOpener, uri, dir string) (string, error) {
	if !strings.HasPrefix(uri, "s3://") {
		p := strings.TrimPrefix(uri, "file://")
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return filepath.Abs(p)
	}
	return FetchURI(ctx, stores, uri, dir)
}

// fetchURI fetches an s3:// object or prefix into the folder dst
// (FetchURI).
func (w *Worker) fetchURI(ctx context.Context, uri, dst string) (string, error) {
	return FetchURI(ctx, w.cfg.Ledger.Stores, uri, dst)
}

// FetchURI fetches an s3:// object into the folder dst and returns the
// file's path, or the objects under the URI as a prefix into dst and
// returns dst.
func FetchURI(ctx context.Context, stores StoreOpener, uri, dst string) (string, error) {
	dir, base := path.Split(strings.TrimSuffix(uri, "/"))
	parent, err := stores.Open(ctx, strings.TrimSuffix(dir, "/"))
	if err != nil {
		return "", err
	}
	if _, err := parent.Stat(ctx, base); err == nil {
		file := filepath.Join(dst, base)
		return file, objstore.Download(ctx, parent, base, file)
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
		return objstore.Download(ctx, s, o.Key, filepath.Join(dir, filepath.FromSlash(rel)))
	})
}
