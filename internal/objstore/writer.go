package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// Writer streams one object into a store (see [Create]). Bytes written are
// not visible under the key until Close returns nil; then the whole object
// is, at once. Abort discards what was written and leaves the key as it
// was. A Writer is not safe for concurrent use.
type Writer interface {
	io.Writer
	// Close completes the object. When it fails, what was written is
	// discarded as Abort does, and the key keeps the object it had (or
	// none).
	Close() error
	// Abort discards what was written. It is a no-op after Close, so
	// `defer w.Abort()` is the usual way to clean up after an error.
	Abort()
}

// ErrWriterDone is returned by a [Writer]'s Write or Close after Close or
// Abort.
var ErrWriterDone = errors.New("objstore: writer already closed or aborted")

// doFunc runs f once, or retries it as WithRetry does; op and key name it
// in logs.
type doFunc func(ctx context.Context, op, key string, f func() error) error

// once is the doFunc of a store without WithRetry.
func once(_ context.Context, _, _ string, f func() error) error { return f() }

// creator is implemented by the backends and the retry decorator: create
// returns a Writer for key whose store calls run through do.
type creator interface {
	create(ctx context.Context, key string, do doFunc) (Writer, error)
}

// Create returns a Writer that streams an object to key in s, with memory
// bounded whatever the object's size:
//
//   - S3: a multipart upload in parts of Options.PartSize (16 MiB by
//     default), at most three parts in memory, two uploaded while the next
//     fills; an object smaller than one part is sent with one PutObject on
//     Close. Abort, or a failed Close, aborts the multipart upload, so no
//     parts are left behind. At most 10,000 parts (156 GiB at 16 MiB).
//   - Local folder: a temporary file in the key's folder, fsynced and
//     renamed over the key on Close, removed on Abort.
//   - Any other Store: a local temporary file, Put on Close.
//
// Through [WithRetry] each store call (every part of a multipart upload,
// separately) is retried on transient errors. ctx bounds the whole write:
// once it is done, Write and Close fail and nothing is written.
func Create(ctx context.Context, s Store, key string) (Writer, error) {
	if c, ok := s.(creator); ok {
		return c.create(ctx, key, once)
	}
	return newSpoolWriter(ctx, s, key)
}

func (r *retryStore) create(ctx context.Context, key string, _ doFunc) (Writer, error) {
	if c, ok := r.s.(creator); ok {
		return c.create(ctx, key, r.do)
	}
	return newSpoolWriter(ctx, r, key)
}

// writerState is where a Writer stands.
type writerState uint8

const (
	writerOpen writerState = iota
	writerClosed
	writerAborted
)

// spoolWriter writes to a local temporary file and puts it on Close, for
// a Store that cannot stream.
type spoolWriter struct {
	ctx   context.Context
	s     Store
	key   string
	f     *os.File
	state writerState
}

func newSpoolWriter(ctx context.Context, s Store, key string) (*spoolWriter, error) {
	if err := validateKey(key); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp("", "prs-spool-*")
	if err != nil {
		return nil, fmt.Errorf("objstore: put %s: %w", s.URI(key), err)
	}
	return &spoolWriter{ctx: ctx, s: s, key: key, f: f}, nil
}

func (w *spoolWriter) Write(p []byte) (int, error) {
	if w.state != writerOpen {
		return 0, ErrWriterDone
	}
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	return w.f.Write(p)
}

func (w *spoolWriter) Close() error {
	if w.state != writerOpen {
		return ErrWriterDone
	}
	defer w.Abort()
	if _, err := w.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("objstore: put %s: %w", w.s.URI(w.key), err)
	}
	if err := w.s.Put(w.ctx, w.key, w.f); err != nil {
		return err
	}
	w.state = writerClosed
	return nil
}

func (w *spoolWriter) Abort() {
	if w.f != nil {
		w.f.Close()
		os.Remove(w.f.Name())
		w.f = nil
	}
	if w.state == writerOpen {
		w.state = writerAborted
	}
}
