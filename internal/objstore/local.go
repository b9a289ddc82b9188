package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// tmpPrefix starts the names of the local backend's temporary files. List
// skips them and keys may not use them.
const tmpPrefix = ".prs-tmp-"

// localStore keeps objects as files under root.
type localStore struct {
	root string // absolute, cleaned
	log  *slog.Logger
	// followOut makes List follow symbolic links that lead out of root.
	followOut bool
	// warned holds the paths of skipped symbolic links already warned
	// about, shared by the views of FollowSymlinks.
	warned *sync.Map
}

var (
	_ Store       = (*localStore)(nil)
	_ LocalPather = (*localStore)(nil)
)

func openLocal(path string, opts Options) (*localStore, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path", ErrInvalidURI)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrInvalidURI, path, err)
	}
	return &localStore{root: abs, log: opts.logger(), warned: &sync.Map{}}, nil
}

func (s *localStore) logger() *slog.Logger { return s.log }

// URI returns the file path of key, or the root folder for "".
func (s *localStore) URI(key string) string {
	if key == "" {
		return s.root
	}
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// LocalPath implements [LocalPather].
func (s *localStore) LocalPath(key string) (string, bool) {
	p, err := s.path(key)
	return p, err == nil
}

// path maps key to its file, rejecting keys that would escape the root or
// that cannot be files: "." and ".." or empty components, a trailing "/", and
// components that start with the temporary-file prefix.
func (s *localStore) path(key string) (string, error) {
	if err := validateKey(key); err != nil {
		return "", err
	}
	for part := range strings.SplitSeq(key, "/") {
		switch {
		case part == "" || part == "." || part == "..":
			return "", fmt.Errorf("%w: %q: empty, \".\" or \"..\" path component", ErrInvalidKey, key)
		case strings.HasPrefix(part, tmpPrefix):
			return "", fmt.Errorf("%w: %q: components may not start with %q", ErrInvalidKey, key, tmpPrefix)
		case filepath.Separator != '/' && strings.ContainsRune(part, filepath.Separator):
			return "", fmt.Errorf("%w: %q holds %q", ErrInvalidKey, key, filepath.Separator)
		}
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

func (s *localStore) fail(op, key string, err error) error {
	var kind error
	switch {
	case op == "put":
		// A missing or non-folder parent is not "object not found".
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		kind = ErrNotFound
	}
	if errors.Is(err, fs.ErrPermission) {
		kind = ErrAccessDenied
	}
	return &opError{op: op, uri: s.URI(key), kind: kind, err: err}
}

// localETag is "<size hex>-<mtime unix ns hex>".
func localETag(fi fs.FileInfo) string {
	return strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16)
}

func (s *localStore) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, s.fail("get", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, s.fail("get", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, s.fail("get", key, fmt.Errorf("not a regular file: %w", fs.ErrNotExist))
	}
	return f, nil
}

func (s *localStore) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, err
	}
	p, err := s.path(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return ObjectInfo{}, s.fail("stat", key, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, s.fail("stat", key, fmt.Errorf("not a regular file: %w", fs.ErrNotExist))
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ETag: localETag(fi)}, nil
}

// Put writes body to a temporary file in the destination folder, fsyncs it,
// renames it over the destination and fsyncs the folder.
func (s *localStore) Put(ctx context.Context, key string, body io.ReadSeeker) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s.fail("put", key, err)
	}
	tmp, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return s.fail("put", key, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, ctxReader{ctx, body}); err != nil {
		return s.fail("put", key, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return s.fail("put", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return s.fail("put", key, err)
	}
	if err := tmp.Close(); err != nil {
		return s.fail("put", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return s.fail("put", key, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		// Make the rename durable; not all file systems support it.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Delete removes the file. Folders left empty stay: List ignores them, and
// removing them would race with a concurrent Put into the same folder.
func (s *localStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return s.fail("delete", key, err)
	case fi.IsDir():
		return nil // a "folder" is not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fail("delete", key, err)
	}
	return nil
}

// check verifies that the root folder exists, or creates it when create is
// set and then verifies that a file can be written in it.
func (s *localStore) check(_ context.Context, create bool) error {
	fail := func(err error) error {
		var kind error
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			kind = ErrBucketNotFound
		case errors.Is(err, fs.ErrPermission):
			kind = ErrAccessDenied
		}
		return &opError{op: "check", uri: s.root, kind: kind, err: err}
	}
	if create {
		if err := os.MkdirAll(s.root, 0o755); err != nil {
			return fail(err)
		}
		f, err := os.CreateTemp(s.root, tmpPrefix+"check-*")
		if err != nil {
			return fail(err)
		}
		f.Close()
		os.Remove(f.Name())
		return nil
	}
	fi, err := os.Stat(s.root)
	if err != nil {
		return fail(err)
	}
	if !fi.IsDir() {
		return fail(fmt.Errorf("not a folder: %w", fs.ErrNotExist))
	}
	// Reading the folder catches a missing read permission.
	d, err := os.Open(s.root)
	if err != nil {
		return fail(err)
	}
	defer d.Close()
	if _, err := d.ReadDir(1); err != nil && err != io.EOF {
		return fail(err)
	}
	return nil
}

// ctxReader stops a copy when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
