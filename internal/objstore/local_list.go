package objstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// List walks the folder tree in byte-wise lexicographic order of the keys.
func (s *localStore) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	return s.listAfter(ctx, prefix, "", fn)
}

// listAfter lists the keys that start with prefix and sort after after.
//
// filepath.WalkDir visits "a.b" after the folder "a", but S3 order puts
// "a.b" before "a/b" ('.' < '/'), so each folder's entries are sorted with a
// sub-folder d compared as "d/". Only one folder's entry names per level of
// the tree are held in memory. Temporary files of Put are skipped, symbolic
// links are followed (a link back to an ancestor folder is skipped with a
// warning), and what is neither a file nor a folder is skipped.
func (s *localStore) listAfter(ctx context.Context, prefix, after string, fn func(ObjectInfo) error) error {
	if strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("%w: prefix %q starts with \"/\"", ErrInvalidKey, prefix)
	}
	// Start in the deepest folder that the prefix names in full.
	startRel := prefix[:strings.LastIndex(prefix, "/")+1]
	if startRel != "" {
		if _, err := s.path(strings.TrimSuffix(startRel, "/")); err != nil {
			return fmt.Errorf("prefix %q: %w", prefix, err)
		}
	}
	startDir := filepath.Join(s.root, filepath.FromSlash(startRel))
	fi, err := os.Stat(startDir)
	switch {
	case errors.Is(err, fs.ErrNotExist) || err == nil && !fi.IsDir():
		return nil
	case err != nil:
		return s.fail("list", startRel, err)
	}
	w := &localWalk{s: s, ctx: ctx, prefix: prefix, after: after, fn: fn}
	_, err = w.dir(startDir, startRel, []fs.FileInfo{fi})
	return err
}

type localWalk struct {
	s      *localStore
	ctx    context.Context
	prefix string
	after  string
	fn     func(ObjectInfo) error
}

type localEntry struct {
	name  string
	isDir bool
}

// sortKey compares a folder d as "d/".
func (e localEntry) sortKey() string {
	if e.isDir {
		return e.name + "/"
	}
	return e.name
}

// dir lists one folder; rel is its key prefix ("" or ending in "/") and
// ancestors the folders above it, for cycle detection. stop is true once
// every later key is known to lie outside the prefix.
func (w *localWalk) dir(path, rel string, ancestors []fs.FileInfo) (stop bool, err error) {
	des, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // removed while listing
	}
	if err != nil {
		return false, w.s.fail("list", rel, err)
	}
	entries := make([]localEntry, 0, len(des))
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		typ := de.Type()
		if typ&fs.ModeSymlink != 0 {
			fi, err := os.Stat(filepath.Join(path, name))
			if err != nil {
				continue // dangling link
			}
			typ = fi.Mode().Type()
		}
		switch {
		case typ.IsDir():
			entries = append(entries, localEntry{name: name, isDir: true})
		case typ.IsRegular():
			entries = append(entries, localEntry{name: name})
		}
	}
	des = nil
	slices.SortFunc(entries, func(a, b localEntry) int { return strings.Compare(a.sortKey(), b.sortKey()) })

	for _, e := range entries {
		if err := w.ctx.Err(); err != nil {
			return false, err
		}
		full := rel + e.sortKey()
		if full > w.prefix && !strings.HasPrefix(full, w.prefix) {
			return true, nil // sorted: nothing later can match
		}
		p := filepath.Join(path, e.name)
		if e.isDir {
			if !strings.HasPrefix(full, w.prefix) && !strings.HasPrefix(w.prefix, full) {
				continue
			}
			if w.after >= full && !strings.HasPrefix(w.after, full) {
				continue // every key below sorts before after
			}
			fi, err := os.Stat(p)
			if err != nil {
				continue // removed while listing
			}
			if slices.ContainsFunc(ancestors, func(a fs.FileInfo) bool { return os.SameFile(a, fi) }) {
				w.s.log.Warn("objstore: skipping symbolic link loop", "path", p)
				continue
			}
			stop, err := w.dir(p, full, append(ancestors, fi))
			if err != nil || stop {
				return stop, err
			}
			continue
		}
		if full <= w.after || !strings.HasPrefix(full, w.prefix) {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue // removed or replaced while listing
		}
		if err := w.fn(ObjectInfo{Key: full, Size: fi.Size(), ETag: localETag(fi)}); err != nil {
			return false, err
		}
	}
	return false, nil
}
