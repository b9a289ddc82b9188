package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PutIfAbsent writes body to a temporary file in the destination folder,
// fsyncs it and hard-links it to the destination: link(2) never replaces
// an existing name, so of concurrent callers exactly one succeeds, and a
// reader sees the whole object or none. Where the file system has no hard
// links the file is created with O_EXCL and then written (a reader may then
// see it partly written).
func (s *localStore) PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return s.fail("put", key, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), tmpPrefix+"*")
	if err != nil {
		return s.fail("put", key, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := io.Copy(tmp, ctxReader{ctx, body}); err != nil {
		return s.fail("put", key, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return s.fail("put", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return s.fail("put", key, err)
	}
	err = os.Link(tmp.Name(), p)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return s.exists(key, p, err)
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.ENOTSUP), errors.Is(err, syscall.EXDEV), errors.Is(err, syscall.EMLINK):
		err = s.createExclusive(ctx, key, p, tmp)
		if err != nil {
			return err
		}
	default:
		return s.fail("put", key, err)
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// exists tells an existing object (ErrExists) from a folder in the way.
func (s *localStore) exists(key, p string, err error) error {
	if fi, serr := os.Lstat(p); serr == nil && fi.IsDir() {
		return s.fail("put", key, fmt.Errorf("a folder has this name: %w", err))
	}
	return &opError{op: "put", uri: s.URI(key), kind: ErrExists, err: err}
}

// createExclusive is PutIfAbsent without hard links: O_EXCL, then a copy of
// the temporary file.
func (s *localStore) createExclusive(ctx context.Context, key, p string, tmp *os.File) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return s.exists(key, p, err)
	}
	if err != nil {
		return s.fail("put", key, err)
	}
	if _, err = tmp.Seek(0, io.SeekStart); err == nil {
		_, err = io.Copy(f, ctxReader{ctx, tmp})
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return s.fail("put", key, err)
	}
	return nil
}
