package objstore

import (
	"context"
	"os"
	"path/filepath"
)

// localWriter writes a temporary file in the key's folder and renames it
// over the key on Close: a reader sees the old file or the whole new one.
type localWriter struct {
	ctx   context.Context
	s     *localStore
	key   string
	path  string
	f     *os.File
	state writerState
}

func (s *localStore) create(ctx context.Context, key string, _ doFunc) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, s.fail("put", key, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"*")
	if err != nil {
		return nil, s.fail("put", key, err)
	}
	return &localWriter{ctx: ctx, s: s, key: key, path: p, f: f}, nil
}

func (w *localWriter) Write(p []byte) (int, error) {
	if w.state != writerOpen {
		return 0, ErrWriterDone
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.f.Write(p)
	if err != nil {
		return n, w.s.fail("put", w.key, err)
	}
	return n, nil
}

// Close fsyncs the temporary file, renames it over the key and fsyncs the
// folder, as Put does.
func (w *localWriter) Close() error {
	if w.state != writerOpen {
		return ErrWriterDone
	}
	if err := w.ctx.Err(); err != nil {
		w.Abort()
		return err
	}
	for _, step := range []func() error{
		func() error { return w.f.Chmod(0o644) },
		w.f.Sync,
		w.f.Close,
		func() error { return os.Rename(w.f.Name(), w.path) },
	} {
		if err := step(); err != nil {
			w.Abort()
			return w.s.fail("put", w.key, err)
		}
	}
	w.state = writerClosed
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		// Make the rename durable; not all file systems support it.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

func (w *localWriter) Abort() {
	if w.state != writerOpen {
		return
	}
	w.state = writerAborted
	w.f.Close()
	os.Remove(w.f.Name())
}
