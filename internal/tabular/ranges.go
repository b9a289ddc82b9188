package tabular

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/parallelrun/prs/internal/objstore"
)

// RangeReader reads byte ranges of objects: the ranged GET that planning and
// reading pieces need and that [objstore.Store] does not offer (yet). Plan
// and ReadPiece call it from the calling goroutine only.
type RangeReader interface {
	// ReadRange opens the n bytes of object key that start at offset off,
	// or fewer when the object ends first; the caller closes the reader. An
	// absent object gives an error wrapping [objstore.ErrNotFound].
	ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// RangeReaderFunc adapts a function to [RangeReader].
type RangeReaderFunc func(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)

// ReadRange calls f.
func (f RangeReaderFunc) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	return f(ctx, key, off, n)
}

// rangeGetter is the ranged read that a store may offer: an S3 GET with
// "Range: bytes=off-(off+n-1)". Ranges uses it when a store has it.
type rangeGetter interface {
	GetRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error)
}

// readerAtOpener is implemented by range readers that can hand out the
// object as an io.ReaderAt (a local file), which Parquet reads prefer.
type readerAtOpener interface {
	openReaderAt(key string) (readerAtCloser, bool, error)
}

type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

// Ranges returns the [RangeReader] of store, chosen per key:
//
//   - a store with a method GetRange(ctx, key string, off, n int64)
//     (io.ReadCloser, error) is asked for the range (the S3 ranged GET that
//     objstore is to gain; a store wrapped by objstore.WithRetry must forward
//     it);
//   - a key that the store maps to a local file ([objstore.LocalPather]) is
//     read in place with a seek;
//   - otherwise the object is fetched with [objstore.Store.Get] and its first
//     off bytes are skipped. This is correct but reads the object from its
//     start each time: fine for tests and small objects, wasteful on S3
//     until objstore has GetRange.
//
// The result is safe for concurrent use.
func Ranges(store objstore.Store) RangeReader { return storeRanges{store} }

type storeRanges struct{ s objstore.Store }

func (r storeRanges) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("tabular: read %s: negative range %d+%d", key, off, n)
	}
	if g, ok := r.s.(rangeGetter); ok {
		return g.GetRange(ctx, key, off, n)
	}
	if f, ok, err := r.openFile(key); ok || err != nil {
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("tabular: seek %s: %w", r.s.URI(key), err)
		}
		return readCloser{io.LimitReader(f, n), f}, nil
	}
	body, err := r.s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, body, off); err != nil && !errors.Is(err, io.EOF) {
		body.Close()
		return nil, fmt.Errorf("tabular: read %s: %w", r.s.URI(key), err)
	}
	return readCloser{io.LimitReader(body, n), body}, nil
}

// openFile opens key's local file when the store has one; ok is false
// otherwise.
func (r storeRanges) openFile(key string) (*os.File, bool, error) {
	lp, isLocal := r.s.(objstore.LocalPather)
	if !isLocal {
		return nil, false, nil
	}
	path, ok := lp.LocalPath(key)
	if !ok {
		return nil, false, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, fmt.Errorf("tabular: %w: %s", objstore.ErrNotFound, path)
	}
	if err != nil {
		return nil, true, fmt.Errorf("tabular: %w", err)
	}
	return f, true, nil
}

func (r storeRanges) openReaderAt(key string) (readerAtCloser, bool, error) {
	if _, ok := r.s.(rangeGetter); ok {
		return nil, false, nil
	}
	return r.openFile(key)
}

type readCloser struct {
	io.Reader
	io.Closer
}

// rangeReaderAt adapts a RangeReader to io.ReaderAt over one object of a
// known size: each ReadAt is one ranged read.
type rangeReaderAt struct {
	ctx  context.Context
	r    RangeReader
	key  string
	size int64
}

func (a *rangeReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("tabular: read %s at negative offset %d", a.key, off)
	}
	if off >= a.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), a.size-off)
	rc, err := a.r.ReadRange(a.ctx, a.key, off, n)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	m, err := io.ReadFull(rc, p[:n])
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return m, fmt.Errorf("%w: %s: read %d bytes at %d, got %d", ErrChanged, a.key, n, off, m)
	}
	if err != nil {
		return m, fmt.Errorf("tabular: read %s at byte %d: %w", a.key, off, err)
	}
	if n < int64(len(p)) {
		return m, io.EOF
	}
	return m, nil
}

// openReaderAt returns the object as an io.ReaderAt: the local file when r
// offers it, else ranged reads.
func openReaderAt(ctx context.Context, r RangeReader, key string, size int64) (io.ReaderAt, func() error, error) {
	if o, ok := r.(readerAtOpener); ok {
		f, ok, err := o.openReaderAt(key)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			return f, f.Close, nil
		}
	}
	return &rangeReaderAt{ctx: ctx, r: r, key: key, size: size}, func() error { return nil }, nil
}
