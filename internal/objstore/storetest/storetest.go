// Package storetest is the conformance suite of [objstore.Store]: every
// backend runs it, so that the local folder and S3 behave alike.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
)

// Run runs the suite. newStore must return an empty store of its own for each
// call (a fresh folder or bucket); subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
	}{
		{"PutGetStatDelete", testPutGetStatDelete},
		{"Overwrite", testOverwrite},
		{"NotFound", testNotFound},
		{"InvalidKeys", testInvalidKeys},
		{"EmptyStore", testEmptyStore},
		{"ListOrder", testListOrder},
		{"ListPrefix", testListPrefix},
		{"ListStopsOnCallbackError", testListStop},
		{"ListMatchesStat", testListMatchesStat},
		{"LargeObject", testLargeObject},
		{"EmptyObject", testEmptyObject},
		{"SpecialKeys", testSpecialKeys},
		{"PutFromCurrentPosition", testPutFromCurrentPosition},
		{"PutAtomicFailedBody", testPutFailedBody},
		{"PutAtomicConcurrentReaders", testPutConcurrentReaders},
		{"ConcurrentPuts", testConcurrentPuts},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfAbsentConcurrent", testPutIfAbsentConcurrent},
		{"CanceledContext", testCanceledContext},
		{"URI", testURI},
		{"GetRange", testGetRange},
		{"Create", testCreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func put(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func get(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", key, err)
	}
	return b
}

func list(t *testing.T, s objstore.Store, prefix string) []objstore.ObjectInfo {
	t.Helper()
	var got []objstore.ObjectInfo
	if err := s.List(t.Context(), prefix, func(o objstore.ObjectInfo) error {
		got = append(got, o)
		return nil
	}); err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return got
}

func keys(infos []objstore.ObjectInfo) []string {
	out := []string{}
	for _, o := range infos {
		out = append(out, o.Key)
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func testPutGetStatDelete(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	data := []byte("hello, objstore")
	put(t, s, "dir/sub/hello.txt", data)

	if got := get(t, s, "dir/sub/hello.txt"); !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, want %q", got, data)
	}
	info, err := s.Stat(ctx, "dir/sub/hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "dir/sub/hello.txt" || info.Size != int64(len(data)) || info.ETag == "" || strings.Contains(info.ETag, `"`) {
		t.Fatalf("Stat = %+v", info)
	}
	if err := s.Delete(ctx, "dir/sub/hello.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "dir/sub/hello.txt"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if got := list(t, s, ""); len(got) != 0 {
		t.Fatalf("List after Delete = %v", got)
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	put(t, s, "k", []byte("first version"))
	before, err := s.Stat(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "k", []byte("second, longer version"))
	if got := get(t, s, "k"); string(got) != "second, longer version" {
		t.Fatalf("Get after overwrite = %q", got)
	}
	after, err := s.Stat(t.Context(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if after.Size != int64(len("second, longer version")) || after.ETag == before.ETag {
		t.Fatalf("Stat before %+v, after %+v: want new size and ETag", before, after)
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("List = %q, want one key", got)
	}
}

func testNotFound(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	put(t, s, "present/child", []byte("x"))
	for _, key := range []string{"absent", "present", "present/child/below", "present/chil"} {
		if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", key, err)
		} else if !strings.Contains(err.Error(), key) {
			t.Errorf("Get(%q) error %q does not name the key", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", key, err)
		}
		if err := s.Delete(ctx, key); err != nil {
			t.Errorf("Delete(%q) of an absent key = %v, want nil", key, err)
		}
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"present/child"}) {
		t.Fatalf("List = %q", got)
	}
}

func testInvalidKeys(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	for _, key := range []string{"", "/abs"} {
		if err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Get(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func testEmptyStore(t *testing.T, s objstore.Store) {
	for _, prefix := range []string{"", "a", "a/"} {
		if got := list(t, s, prefix); len(got) != 0 {
			t.Fatalf("List(%q) of an empty store = %v", prefix, got)
		}
	}
}

// trickyKeys defeat a naive directory walk: '-' (0x2d) and '.' (0x2e) sort
// before '/' (0x2f), so "a.b" comes before "a/b" in S3 order. No key is a
// folder of another key, so that a file system can hold them all.
var trickyKeys = []string{
	"a/b", "a.b", "a-b", "a/b.c", "a/b-c", "a/bc", "a0", "ab", "a/a", "b",
	"c/b/c", "c.b", "c-b", "c/b.c", "c/b/c.d/e", "c/b/c-d", "c/b/d/e", "c/b/d.e",
	"d/e/f/g", "d/e/f.g", "d/e/f-g/h", "d/e.f", "d/e0", "d/e/f/g.h/i/j",
	"Z", "_x", "z/y/x/w/v", "~tilde", "!bang",
}

func testListOrder(t *testing.T, s objstore.Store) {
	for _, k := range trickyKeys {
		put(t, s, k, []byte(k))
	}
	want := slices.Sorted(slices.Values(trickyKeys))
	got := list(t, s, "")
	if !slices.Equal(keys(got), want) {
		t.Fatalf("List order:\n got %q\nwant %q", keys(got), want)
	}
	for _, o := range got {
		if o.Size != int64(len(o.Key)) || o.ETag == "" {
			t.Fatalf("List entry %+v: wrong size or empty ETag", o)
		}
	}
}

func testListPrefix(t *testing.T, s objstore.Store) {
	all := slices.Sorted(slices.Values(trickyKeys))
	for _, k := range all {
		put(t, s, k, []byte("x"))
	}
	for _, prefix := range []string{
		"", "a", "a/", "a/b", "a/b/", "a.", "b", "c/b/c", "c/b/c/", "c/b/", "c/b/d",
		"d/e/f", "d/e/f/", "d/e/f/g.h/i/", "z/y/", "zz", "c/b/c.d/e", "nope/", "~",
	} {
		want := []string{}
		for _, k := range all {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		if got := keys(list(t, s, prefix)); !slices.Equal(got, want) {
			t.Errorf("List(%q):\n got %q\nwant %q", prefix, got, want)
		}
	}
}

func testListStop(t *testing.T, s objstore.Store) {
	for _, k := range []string{"1", "2", "3", "4"} {
		put(t, s, k, []byte(k))
	}
	errStop := errors.New("stop here")
	var seen []string
	err := s.List(t.Context(), "", func(o objstore.ObjectInfo) error {
		seen = append(seen, o.Key)
		if len(seen) == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("List = %v, want the callback's error", err)
	}
	if !slices.Equal(seen, []string{"1", "2"}) {
		t.Fatalf("callback saw %q after returning an error", seen)
	}
}

func testListMatchesStat(t *testing.T, s objstore.Store) {
	put(t, s, "x/one", []byte("1"))
	put(t, s, "x/two", []byte("22"))
	for _, o := range list(t, s, "x/") {
		st, err := s.Stat(t.Context(), o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if st != o {
			t.Fatalf("Stat = %+v, List gave %+v", st, o)
		}
	}
}

func testLargeObject(t *testing.T, s objstore.Store) {
	data := randomBytes(t, 6<<20+123)
	put(t, s, "large/blob.bin", data)
	got := get(t, s, "large/blob.bin")
	if sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("Get of %d bytes returned %d different bytes", len(data), len(got))
	}
	info, err := s.Stat(t.Context(), "large/blob.bin")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) {
		t.Fatalf("Stat size = %d, want %d", info.Size, len(data))
	}
}

func testEmptyObject(t *testing.T, s objstore.Store) {
	put(t, s, "empty", nil)
	if got := get(t, s, "empty"); len(got) != 0 {
		t.Fatalf("Get = %q", got)
	}
	if got := list(t, s, ""); len(got) != 1 || got[0].Size != 0 {
		t.Fatalf("List = %+v", got)
	}
}

func testSpecialKeys(t *testing.T, s objstore.Store) {
	special := []string{
		"with space/file name.txt",
		"ünïcødé/数据.bin",
		"emoji/😀.txt",
		"percent%20plus+and&equals=.txt",
		"q?x#y",
		"dots.in.names/..hidden",
		"trailing space ",
		"colon:semi;comma,",
	}
	for _, k := range special {
		put(t, s, k, []byte(k))
	}
	for _, k := range special {
		if got := get(t, s, k); string(got) != k {
			t.Errorf("Get(%q) = %q", k, got)
		}
	}
	want := slices.Sorted(slices.Values(special))
	if got := keys(list(t, s, "")); !slices.Equal(got, want) {
		t.Fatalf("List:\n got %q\nwant %q", got, want)
	}
	if got := keys(list(t, s, "ünïcødé/")); !slices.Equal(got, []string{"ünïcødé/数据.bin"}) {
		t.Fatalf("List(unicode prefix) = %q", got)
	}
}

func testPutFromCurrentPosition(t *testing.T, s objstore.Store) {
	body := strings.NewReader("skip:keep")
	if _, err := body.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "k", body); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "k"); string(got) != "keep" {
		t.Fatalf("Get = %q, want the body from its position", got)
	}
}

// failingBody reports its full size through Seek but fails to read past n
// bytes.
type failingBody struct {
	*bytes.Reader
	n int64
}

var errBody = errors.New("body failed on purpose")

func (b *failingBody) Read(p []byte) (int, error) {
	pos := b.Size() - int64(b.Len())
	if pos >= b.n {
		return 0, errBody
	}
	if int64(len(p)) > b.n-pos {
		p = p[:b.n-pos]
	}
	return b.Reader.Read(p)
}

func testPutFailedBody(t *testing.T, s objstore.Store) {
	old := []byte("the old object stays intact")
	put(t, s, "obj", old)
	body := &failingBody{Reader: bytes.NewReader(randomBytes(t, 1<<20)), n: 300 << 10}
	if err := s.Put(t.Context(), "obj", body); err == nil {
		t.Fatal("Put with a failing body succeeded")
	}
	if err := s.Put(t.Context(), "new", &failingBody{Reader: bytes.NewReader(randomBytes(t, 1<<20)), n: 1000}); err == nil {
		t.Fatal("Put with a failing body succeeded")
	}
	if got := get(t, s, "obj"); !bytes.Equal(got, old) {
		t.Fatalf("after a failed Put, Get = %d bytes, want the old object", len(got))
	}
	if _, err := s.Stat(t.Context(), "new"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("a failed Put created the object: Stat = %v", err)
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"obj"}) {
		t.Fatalf("List after failed Puts = %q, want only the old object (no temporary files)", got)
	}
}

func testPutConcurrentReaders(t *testing.T, s objstore.Store) {
	const size = 512 << 10
	versions := [][]byte{bytes.Repeat([]byte("A"), size), bytes.Repeat([]byte("B"), size+1)}
	put(t, s, "hot", versions[0])

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				rc, err := s.Get(ctx, "hot")
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if !bytes.Equal(got, versions[0]) && !bytes.Equal(got, versions[1]) {
					errs <- fmt.Errorf("reader saw a partial object of %d bytes", len(got))
					return
				}
			}
		})
	}
	for i := range 20 {
		if err := s.Put(t.Context(), "hot", bytes.NewReader(versions[i%2])); err != nil {
			t.Error(err)
			break
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testConcurrentPuts(t *testing.T, s objstore.Store) {
	const n = 24
	var want []string
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		key := fmt.Sprintf("batch/%02d/result-%02d.json", i%4, i)
		want = append(want, key)
		wg.Go(func() {
			if err := s.Put(t.Context(), key, strings.NewReader(key)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	slices.Sort(want)
	if got := keys(list(t, s, "batch/")); !slices.Equal(got, want) {
		t.Fatalf("List = %q,\nwant %q", got, want)
	}
	for _, k := range want {
		if got := get(t, s, k); string(got) != k {
			t.Fatalf("Get(%q) = %q", k, got)
		}
	}
}

func testPutIfAbsent(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	body := strings.NewReader("skip:first")
	if _, err := body.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "locks/a.json", body); err != nil {
		t.Fatalf("PutIfAbsent of a new key: %v", err)
	}
	if got := get(t, s, "locks/a.json"); string(got) != "first" {
		t.Fatalf("Get = %q, want %q (from the body's position)", got, "first")
	}
	err := s.PutIfAbsent(ctx, "locks/a.json", strings.NewReader("second"))
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent of an existing key = %v, want ErrExists", err)
	}
	if objstore.IsTransient(err) {
		t.Fatalf("ErrExists is transient: %v", err)
	}
	if got := get(t, s, "locks/a.json"); string(got) != "first" {
		t.Fatalf("the refused PutIfAbsent changed the object: %q", got)
	}
	if got := keys(list(t, s, "locks/")); !slices.Equal(got, []string{"locks/a.json"}) {
		t.Fatalf("List = %q", got)
	}
	// A deleted key can be created again; a plain Put still replaces.
	if err := s.Delete(ctx, "locks/a.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutIfAbsent(ctx, "locks/a.json", strings.NewReader("third")); err != nil {
		t.Fatalf("PutIfAbsent after Delete: %v", err)
	}
	put(t, s, "locks/a.json", []byte("fourth"))
	if got := get(t, s, "locks/a.json"); string(got) != "fourth" {
		t.Fatalf("Get = %q", got)
	}
	for _, bad := range []string{"", "/abs"} {
		if err := s.PutIfAbsent(ctx, bad, strings.NewReader("x")); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("PutIfAbsent(%q) = %v, want ErrInvalidKey", bad, err)
		}
	}
}

// testPutIfAbsentConcurrent races writers for one key: exactly one wins and
// the object is the winner's, whole.
func testPutIfAbsentConcurrent(t *testing.T, s objstore.Store) {
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	bodies := make([]string, n)
	for i := range n {
		bodies[i] = strings.Repeat(fmt.Sprintf("writer %02d;", i), 2000)
		wg.Go(func() { errs[i] = s.PutIfAbsent(t.Context(), "lock", strings.NewReader(bodies[i])) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both created the key", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, objstore.ErrExists):
			t.Fatalf("writer %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer created the key")
	}
	if got := get(t, s, "lock"); string(got) != bodies[winner] {
		t.Fatalf("the object is not the winner's (%d bytes)", len(got))
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"lock"}) {
		t.Fatalf("List = %q (temporary files left?)", got)
	}
}

func testCanceledContext(t *testing.T, s objstore.Store) {
	put(t, s, "k", []byte("v"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
	if err := s.Put(ctx, "k2", strings.NewReader("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put = %v, want context.Canceled", err)
	}
	if err := s.List(ctx, "", func(objstore.ObjectInfo) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v, want context.Canceled", err)
	}
	if objstore.IsTransient(context.Canceled) {
		t.Error("IsTransient(context.Canceled) = true")
	}
}

func testURI(t *testing.T, s objstore.Store) {
	u1, u2 := s.URI("dir/one.txt"), s.URI("dir/two.txt")
	if !strings.HasSuffix(u1, "dir/one.txt") || u1 == u2 {
		t.Fatalf("URI = %q, %q", u1, u2)
	}
	root := s.URI("")
	if root == "" || !strings.HasPrefix(u1, root) {
		t.Fatalf("URI(\"\") = %q is not the prefix of %q", root, u1)
	}
	// The root URI opens the same store.
	put(t, s, "dir/one.txt", []byte("1"))
	if !strings.HasPrefix(root, "s3://") {
		s2, err := objstore.Open(t.Context(), root, objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := get(t, s2, "dir/one.txt"); string(got) != "1" {
			t.Fatalf("store reopened from %q: Get = %q", root, got)
		}
	}
}

// testGetRange checks ranged reads where the store offers them.
func testGetRange(t *testing.T, s objstore.Store) {
	g, ok := s.(objstore.RangeGetter)
	if !ok {
		return
	}
	ctx := context.Background()
	body := "0123456789abcdefghij"
	if err := s.Put(ctx, "range/obj", strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{0, 5, "01234"}, {6, 5, "6789a"}, {15, 100, "fghij"}, {20, 5, ""}, {25, 5, ""}, {3, -1, body[3:]}, {7, 0, ""}} {
		rc, err := g.GetRange(ctx, "range/obj", tc.off, tc.n)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", tc.off, tc.n, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != tc.want {
			t.Fatalf("GetRange(%d, %d) = %q, %v; want %q", tc.off, tc.n, b, err, tc.want)
		}
	}
	if _, err := g.GetRange(ctx, "range/missing", 0, 5); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("GetRange of a missing key: %v", err)
	}
}
