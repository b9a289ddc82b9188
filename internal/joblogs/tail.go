package joblogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// ErrNoLogs: no log file matches (yet).
var ErrNoLogs = errors.New("no log files")

// Tail shows a job's logs from a terminal: the overview and the error
// summary, or one worker's files; each Print shows what was added since
// the last, and reads no more than that.
//
// A worker's files only grow (each flush puts its spool file, which it only
// appends to; a file past its size limit continues in a next part, a new
// key): Print reads each from where it stopped, with a ranged read (a
// ranged GET on S3), and only when the listing says it grew. One that
// shrank was rewritten (a worker of the same name started again): it is
// read and shown again whole. A line is shown once it ends; Flush shows
// the last ones that did not. The overview and the error summary are
// rewritten whole: they are read again, and shown whole, only when their
// ETag changed.
type Tail struct {
	out    objstore.Store
	worker string
	files  map[string]*tailFile
}

// tailFile is what a Tail knows of one file.
type tailFile struct {
	// off is how many bytes of the file were read.
	off int64
	// partial is its last line read, without its newline yet.
	partial []byte
	// etag and last are a rewritten file's when last shown.
	etag, last string
}

// NewTail returns a Tail of the job logs under out; worker, when set,
// selects the files of the workers whose name contains it.
func NewTail(out objstore.Store, worker string) *Tail {
	return &Tail{out: out, worker: worker, files: map[string]*tailFile{}}
}

// Print writes what was added to the selected files since the last call.
func (t *Tail) Print(ctx context.Context, w io.Writer) error {
	objs, err := t.objects(ctx)
	if err != nil {
		return err
	}
	for _, o := range objs {
		f := t.files[o.Key]
		if f == nil {
			f = &tailFile{}
			t.files[o.Key] = f
		}
		if o.Key == contracts.LogOverview || o.Key == contracts.LogErrorSummary {
			err = t.printRewritten(ctx, w, o, f)
		} else {
			err = t.printAdded(ctx, w, o, f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the last lines of the files that have not ended (their
// newline not written yet), each with a newline.
func (t *Tail) Flush(w io.Writer) {
	keys := make([]string, 0, len(t.files))
	for k, f := range t.files {
		if len(f.partial) > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "==> %s <==\n%s\n", k, t.files[k].partial)
		t.files[k].partial = nil
	}
}

// printRewritten shows a file rewritten whole, whole, when it changed.
func (t *Tail) printRewritten(ctx context.Context, w io.Writer, o objstore.ObjectInfo, f *tailFile) error {
	if o.ETag != "" && o.ETag == f.etag {
		return nil
	}
	rc, err := t.out.Get(ctx, o.Key)
	if err != nil {
		return nil // gone since it was listed
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return err
	}
	f.etag = o.ETag
	if f.last == string(b) || len(b) == 0 {
		return nil
	}
	f.last = string(b)
	fmt.Fprintf(w, "==> %s <==\n%s", o.Key, b)
	if b[len(b)-1] != '\n' {
		fmt.Fprintln(w)
	}
	return nil
}

// printAdded shows the lines added to a file that grows, reading from where
// the last Print stopped.
func (t *Tail) printAdded(ctx context.Context, w io.Writer, o objstore.ObjectInfo, f *tailFile) error {
	if o.Size < f.off {
		f.off, f.partial = 0, nil // rewritten: shown again whole
	}
	if o.Size == f.off {
		return nil
	}
	b, err := t.readFrom(ctx, o.Key, f.off)
	if err != nil {
		if errors.Is(err, objstore.ErrNotFound) {
			return nil // gone since it was listed
		}
		return err
	}
	f.off += int64(len(b))
	if len(f.partial) > 0 {
		b = append(f.partial, b...)
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	f.partial = append([]byte(nil), b[end:]...)
	if end > 0 {
		fmt.Fprintf(w, "==> %s <==\n%s", o.Key, b[:end])
	}
	return nil
}

// readFrom reads key from byte off to its end: a ranged read where the
// store has one, else a whole read that skips the first off bytes.
func (t *Tail) readFrom(ctx context.Context, key string, off int64) ([]byte, error) {
	var (
		rc  io.ReadCloser
		err error
	)
	if g, ok := t.out.(objstore.RangeGetter); ok {
		rc, err = g.GetRange(ctx, key, off, -1)
	} else if rc, err = t.out.Get(ctx, key); err == nil {
		_, err = io.CopyN(io.Discard, rc, off)
		if errors.Is(err, io.EOF) {
			err = nil // shorter now: nothing past off
		}
	}
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// objects lists the selected files with their sizes and ETags: the
// overview and the error summary, or a worker's files. A file not written
// yet is left out.
func (t *Tail) objects(ctx context.Context) ([]objstore.ObjectInfo, error) {
	if t.worker == "" {
		var objs []objstore.ObjectInfo
		for _, k := range []string{contracts.LogOverview, contracts.LogErrorSummary} {
			if o, err := t.out.Stat(ctx, k); err == nil {
				objs = append(objs, o) // else not written yet, or not now: the next Print sees
			}
		}
		return objs, nil
	}
	var objs []objstore.ObjectInfo
	for _, prefix := range []string{"logs/sys/node/", "logs/user/stdout/", "logs/user/stderr/", "logs/user/entry_script_log/", "logs/user/error/"} {
		err := t.out.List(ctx, prefix, func(o objstore.ObjectInfo) error {
			if strings.Contains(o.Key[strings.LastIndex(o.Key, "/")+1:], t.worker) {
				objs = append(objs, o)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	if len(objs) == 0 {
		return nil, fmt.Errorf("%w of a worker matching %q under %s", ErrNoLogs, t.worker, t.out.URI("logs/"))
	}
	return objs, nil
}
