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
	"syscall"
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
// the tree are held in memory. Temporary files of Put are skipped, and what
// is neither a file nor a folder is skipped. Symbolic links are followed
// when their target lies inside the root folder; a link that leads out of it
// is skipped unless the store follows such links ([FollowSymlinks]), and a
// dangling link or a loop (a link to an ancestor folder, or a chain of links
// that never ends) is skipped. Each skipped link is warned about once per
// store, not once per listing.
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
	if w.realRoot, err = filepath.EvalSymlinks(s.root); err != nil {
		return s.fail("list", "", err)
	}
	_, err = w.dir(startDir, startRel, []fs.FileInfo{fi})
	return err
}

type localWalk struct {
	s        *localStore
	ctx      context.Context
	prefix   string
	after    string
	fn       func(ObjectInfo) error
	realRoot string // the root with every symbolic link resolved
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
			fi, ok := w.link(filepath.Join(path, name))
			if !ok {
				continue
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
				w.s.warnLink(p, "a symbolic link loop (it leads back to a folder above it)")
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

// link decides whether the listing follows the symbolic link at p, warning
// once about a link it skips; fi describes the link's target.
func (w *localWalk) link(p string) (fi fs.FileInfo, ok bool) {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, syscall.ELOOP):
		w.s.warnLink(p, "a symbolic link loop (its chain of links never ends)")
		return nil, false
	case errors.Is(err, fs.ErrNotExist):
		target, _ := os.Readlink(p)
		w.s.warnLink(p, "a dangling symbolic link (its target "+target+" does not exist)")
		return nil, false
	case err != nil:
		w.s.warnLink(p, "a symbolic link that cannot be followed: "+err.Error())
		return nil, false
	}
	if w.s.followOut {
		return fi, true
	}
	target, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, false // changed while listing
	}
	if target != w.realRoot && !strings.HasPrefix(target, strings.TrimSuffix(w.realRoot, string(filepath.Separator))+string(filepath.Separator)) {
		w.s.warnLink(p, "a symbolic link to "+target+", outside the folder "+w.s.root+"; not followed (follow_symlinks: true follows it)")
		return nil, false
	}
	return fi, true
}

// warnLink warns once per store about a skipped symbolic link, also when
// the listing reaches it by more than one path (through a linked folder).
func (s *localStore) warnLink(p, what string) {
	id := p
	if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		id = filepath.Join(dir, filepath.Base(p))
	}
	if _, seen := s.warned.LoadOrStore(id, true); !seen {
		s.log.Warn("objstore: skipping "+what, "path", p)
	}
}
