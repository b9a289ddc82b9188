package objstore_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/objstore/storetest"
)

func openLocal(t *testing.T, dir string) objstore.Store {
	t.Helper()
	s, err := objstore.Open(t.Context(), dir, objstore.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store { return openLocal(t, t.TempDir()) })
}

func TestLocalConformanceNestedRoot(t *testing.T) {
	// The root folder does not exist yet: Put creates it.
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return openLocal(t, filepath.Join(t.TempDir(), "not", "yet"))
	})
}

func TestLocalRejectsEscapingKeys(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	s := openLocal(t, root)
	for _, key := range []string{
		"../x", "a/../../x", "a/..", "..", ".", "./a", "a//b", "a/", "a/./b",
		".prs-tmp-x", "a/.prs-tmp-y/z", "nul\x00byte",
	} {
		if err := s.Put(t.Context(), key, strings.NewReader("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(t.Context(), key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, ok := s.(objstore.LocalPather).LocalPath(key); ok {
			t.Errorf("LocalPath(%q) ok", key)
		}
	}
	if err := s.List(t.Context(), "../", func(objstore.ObjectInfo) error { return nil }); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Errorf("List(\"../\") = %v, want ErrInvalidKey", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 0 {
		t.Fatalf("files written outside the root: %v", entries)
	}
}

// warnings collects a store's log records.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	line := r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.Key + "=" + a.Value.String(); return true })
	w.msgs = append(w.msgs, line)
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

// count returns how many records mention every one of parts.
func (w *warnings) count(parts ...string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(m, p) }) {
			n++
		}
	}
	return n
}

func TestLocalListSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "d", "real.txt"), "real")
	write(filepath.Join(root, ".prs-tmp-123"), "partial")
	write(filepath.Join(root, "d", ".prs-tmp-456"), "partial")
	write(filepath.Join(outside, "target.txt"), "target data")
	write(filepath.Join(outside, "lib", "x.txt"), "x")
	link(filepath.Join(outside, "target.txt"), filepath.Join(root, "d", "linked.txt")) // leaves the root
	link(filepath.Join(outside, "lib"), filepath.Join(root, "lib"))                    // leaves the root
	link("real.txt", filepath.Join(root, "d", "alias.txt"))                            // stays inside
	link("d", filepath.Join(root, "e"))                                                // stays inside
	link(root, filepath.Join(root, "d", "loop"))                                       // cycle
	link(filepath.Join(outside, "missing"), filepath.Join(root, "dangling"))           // dangling
	link("self2", filepath.Join(root, "self1"))                                        // chain that never ends
	link("self1", filepath.Join(root, "self2"))
	link(filepath.Join("..", "..", filepath.Base(outside), "lib"), filepath.Join(root, "d", "rel")) // leaves by a relative path
	if err := os.Mkdir(filepath.Join(root, "emptydir"), 0o755); err != nil {
		t.Fatal(err)
	}

	logs := &warnings{}
	s, err := objstore.Open(t.Context(), root, objstore.Options{Logger: slog.New(logs)})
	if err != nil {
		t.Fatal(err)
	}
	listKeys := func(s objstore.Store) []objstore.ObjectInfo {
		var got []objstore.ObjectInfo
		if err := s.List(t.Context(), "", func(o objstore.ObjectInfo) error {
			got = append(got, o)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	keysOf := func(infos []objstore.ObjectInfo) []string {
		var out []string
		for _, o := range infos {
			out = append(out, o.Key)
		}
		return out
	}
	// The producer lists an input more than once: one warning each all the same.
	listKeys(s)
	got := listKeys(objstore.WithRetry(s, time.Second))
	want := []string{"d/alias.txt", "d/real.txt", "e/alias.txt", "e/real.txt"}
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("List = %q, want %q", keysOf(got), want)
	}
	for _, w := range [][]string{
		{"outside", filepath.Join(root, "d", "linked.txt")},
		{"outside", filepath.Join(root, "lib")},
		{"outside", filepath.Join(root, "d", "rel")},
		{"dangling", filepath.Join(root, "dangling")},
		{"loop", "d" + string(filepath.Separator) + "loop"}, // reached as d/loop and e/loop: one warning
		{"loop", filepath.Join(root, "self1")},
		{"loop", filepath.Join(root, "self2")},
	} {
		if n := logs.count(w...); n != 1 {
			t.Errorf("%d warnings mention %q, want 1; logs:\n%s", n, w, strings.Join(logs.msgs, "\n"))
		}
	}
	if n := len(logs.msgs); n != 7 {
		t.Errorf("%d warnings, want 7:\n%s", n, strings.Join(logs.msgs, "\n"))
	}

	// Following links that leave the root is a choice; loops and dangling
	// links stay skipped, and are not warned about again.
	got = listKeys(objstore.FollowSymlinks(objstore.WithRetry(s, time.Second)))
	want = []string{"d/alias.txt", "d/linked.txt", "d/real.txt", "d/rel/x.txt", "e/alias.txt", "e/linked.txt", "e/real.txt", "e/rel/x.txt", "lib/x.txt"}
	if !slices.Equal(keysOf(got), want) {
		t.Fatalf("List following links = %q, want %q", keysOf(got), want)
	}
	if got[1].Size != int64(len("target data")) {
		t.Fatalf("symlinked file size = %d, want the target's", got[1].Size)
	}
	if n := len(logs.msgs); n != 7 {
		t.Errorf("%d warnings after listing again, want 7:\n%s", n, strings.Join(logs.msgs, "\n"))
	}
	rc, err := s.Get(t.Context(), "lib/x.txt")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func TestLocalPathAndETag(t *testing.T) {
	root := t.TempDir()
	s := objstore.WithRetry(openLocal(t, root), 0)
	if err := s.Put(t.Context(), "in/put.csv", strings.NewReader("a,b\n")); err != nil {
		t.Fatal(err)
	}
	lp, ok := s.(objstore.LocalPather)
	if !ok {
		t.Fatal("WithRetry(local) does not implement LocalPather")
	}
	p, ok := lp.LocalPath("in/put.csv")
	if !ok || p != filepath.Join(root, "in", "put.csv") {
		t.Fatalf("LocalPath = %q, %v", p, ok)
	}
	if b, err := os.ReadFile(p); err != nil || string(b) != "a,b\n" {
		t.Fatalf("ReadFile(LocalPath) = %q, %v", b, err)
	}
	if s.URI("in/put.csv") != p {
		t.Fatalf("URI = %q, want %q", s.URI("in/put.csv"), p)
	}
	info, err := s.Stat(t.Context(), "in/put.csv")
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if want := "4-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16); info.ETag != want {
		t.Fatalf("ETag = %q, want %q", info.ETag, want)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("file mode = %v, want 0644", fi.Mode().Perm())
	}
}

func TestLocalFileFolderConflicts(t *testing.T) {
	s := openLocal(t, t.TempDir())
	ctx := t.Context()
	if err := s.Put(ctx, "f", strings.NewReader("file")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "f/x", strings.NewReader("below a file")); err == nil {
		t.Error("Put below a file succeeded")
	}
	if err := s.Put(ctx, "d/x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "d", strings.NewReader("over a folder")); err == nil {
		t.Error("Put over a folder succeeded")
	}
	if err := s.Delete(ctx, "d"); err != nil {
		t.Errorf("Delete of a folder = %v, want nil (no such object)", err)
	}
	if _, err := s.Stat(ctx, "d/x"); err != nil {
		t.Errorf("Delete of the folder removed its content: %v", err)
	}
}

func TestLocalCheck(t *testing.T) {
	ctx := t.Context()
	missing := filepath.Join(t.TempDir(), "missing")
	s := openLocal(t, missing)
	err := objstore.Check(ctx, s, false)
	if !errors.Is(err, objstore.ErrBucketNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Check(missing, create=false) = %v, want ErrBucketNotFound naming the folder", err)
	}
	if err := objstore.Check(ctx, objstore.WithRetry(s, 0), true); err != nil {
		t.Fatalf("Check(missing, create=true) = %v", err)
	}
	if err := objstore.Check(ctx, s, false); err != nil {
		t.Fatalf("Check after create = %v", err)
	}
	entries, _ := os.ReadDir(missing)
	if len(entries) != 0 {
		t.Fatalf("Check left files behind: %v", entries)
	}

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := objstore.Check(ctx, openLocal(t, file), false); err == nil {
		t.Fatal("Check of a file succeeded")
	}
	if err := objstore.Check(ctx, openLocal(t, file), true); err == nil {
		t.Fatal("Check(create) of a file succeeded")
	}
}
