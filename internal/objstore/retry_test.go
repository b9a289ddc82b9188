package objstore_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/objstore/storetest"
)

// errUnavailable looks like an S3 "503 SlowDown" to IsTransient.
type errUnavailable struct{}

func (errUnavailable) Error() string       { return "injected: StatusCode: 503, SlowDown" }
func (errUnavailable) HTTPStatusCode() int { return 503 }

// flaky injects transient failures that a real store cannot produce on
// demand: each method fails its first fails[op] calls.
type flaky struct {
	objstore.Store
	mu    sync.Mutex
	fails map[string]int
	calls map[string]int
}

func newFlaky(s objstore.Store, fails map[string]int) *flaky {
	return &flaky{Store: s, fails: fails, calls: map[string]int{}}
}

// fail counts a call and tells whether it must fail.
func (f *flaky) fail(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.fails[op] > 0 {
		f.fails[op]--
		return true
	}
	return false
}

func (f *flaky) count(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *flaky) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if f.fail("get") {
		return nil, errUnavailable{}
	}
	return f.Store.Get(ctx, key)
}

func (f *flaky) Stat(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if f.fail("stat") {
		return objstore.ObjectInfo{}, errUnavailable{}
	}
	return f.Store.Stat(ctx, key)
}

func (f *flaky) Delete(ctx context.Context, key string) error {
	if f.fail("delete") {
		return errUnavailable{}
	}
	return f.Store.Delete(ctx, key)
}

// Put consumes part of the body before failing, as a dropped upload does.
func (f *flaky) Put(ctx context.Context, key string, body io.ReadSeeker) error {
	if f.fail("put") {
		_, _ = io.CopyN(io.Discard, body, 3)
		return errUnavailable{}
	}
	return f.Store.Put(ctx, key, body)
}

// PutIfAbsent consumes part of the body before failing.
func (f *flaky) PutIfAbsent(ctx context.Context, key string, body io.ReadSeeker) error {
	if f.fail("put-if-absent") {
		_, _ = io.CopyN(io.Discard, body, 3)
		return errUnavailable{}
	}
	return f.Store.PutIfAbsent(ctx, key, body)
}

// List delivers two objects before failing.
func (f *flaky) List(ctx context.Context, prefix string, fn func(objstore.ObjectInfo) error) error {
	if !f.fail("list") {
		return f.Store.List(ctx, prefix, fn)
	}
	n := 0
	errStop := errors.New("stop")
	err := f.Store.List(ctx, prefix, func(o objstore.ObjectInfo) error {
		if n == 2 {
			return errStop
		}
		n++
		return fn(o)
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	return errUnavailable{}
}

func TestRetryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) objstore.Store {
		return objstore.WithRetry(openLocal(t, t.TempDir()), time.Second)
	})
}

func TestRetryTransientThenSuccess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := openLocal(t, t.TempDir())
	if err := base.Put(ctx, "k", strings.NewReader("value")); err != nil {
		t.Fatal(err)
	}
	f := newFlaky(base, map[string]int{"get": 2, "stat": 2, "put": 2, "delete": 2})
	s := objstore.WithRetry(f, 10*time.Second)

	rc, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if _, err := s.Stat(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// The failed attempts consumed part of the body: Put must rewind it.
	if err := s.Put(ctx, "p", strings.NewReader("complete body")); err != nil {
		t.Fatal(err)
	}
	if b := read(t, base, "p"); b != "complete body" {
		t.Fatalf("after retried Put, object = %q", b)
	}
	if err := s.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"get", "stat", "put", "delete"} {
		if got := f.count(op); got != 3 {
			t.Errorf("%s called %d times, want 3", op, got)
		}
	}
}

func TestRetryPutIfAbsent(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := openLocal(t, t.TempDir())
	f := newFlaky(base, map[string]int{"put-if-absent": 2})
	s := objstore.WithRetry(f, 10*time.Second)
	if err := s.PutIfAbsent(ctx, "lock", strings.NewReader("whole body")); err != nil {
		t.Fatal(err)
	}
	if b := read(t, base, "lock"); b != "whole body" {
		t.Fatalf("after retried PutIfAbsent, object = %q", b)
	}
	if got := f.count("put-if-absent"); got != 3 {
		t.Fatalf("called %d times, want 3", got)
	}
	// ErrExists is an answer, not an outage: returned at once.
	if err := s.PutIfAbsent(ctx, "lock", strings.NewReader("other")); !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("PutIfAbsent of an existing key = %v, want ErrExists", err)
	}
	if got := f.count("put-if-absent"); got != 4 {
		t.Fatalf("ErrExists retried: %d calls", got)
	}
}

func read(t *testing.T, s objstore.Store, key string) string {
	t.Helper()
	rc, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRetryPermanentReturnsAtOnce(t *testing.T) {
	t.Parallel()
	f := newFlaky(openLocal(t, t.TempDir()), nil)
	s := objstore.WithRetry(f, time.Minute)
	start := time.Now()
	if _, err := s.Stat(t.Context(), "absent"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Stat = %v, want ErrNotFound", err)
	}
	if f.count("stat") != 1 || time.Since(start) > time.Second {
		t.Fatalf("permanent error retried: %d calls in %s", f.count("stat"), time.Since(start))
	}
}

func TestRetryGivesUp(t *testing.T) {
	t.Parallel()
	f := newFlaky(openLocal(t, t.TempDir()), map[string]int{"stat": 1 << 30})
	s := objstore.WithRetry(f, 400*time.Millisecond)
	start := time.Now()
	_, err := s.Stat(t.Context(), "k")
	var status interface{ HTTPStatusCode() int }
	if !errors.As(err, &status) || !strings.Contains(err.Error(), "gave up after") {
		t.Fatalf("Stat = %v, want the last transient error and the attempts", err)
	}
	if d := time.Since(start); d > 3*time.Second || f.count("stat") < 2 {
		t.Fatalf("gave up after %s and %d calls", d, f.count("stat"))
	}
}

func TestRetryHonoursContext(t *testing.T) {
	t.Parallel()
	f := newFlaky(openLocal(t, t.TempDir()), map[string]int{"stat": 1 << 30})
	s := objstore.WithRetry(f, time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Stat(ctx, "k")
	var status interface{ HTTPStatusCode() int }
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &status) {
		t.Fatalf("Stat = %v, want the context's error and the last error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("returned %s after the context ended", d)
	}
}

func TestRetryListResumes(t *testing.T) {
	t.Parallel()
	base := openLocal(t, t.TempDir())
	want := []string{"a", "b", "c", "d", "e"}
	for _, k := range want {
		if err := base.Put(t.Context(), k, strings.NewReader(k)); err != nil {
			t.Fatal(err)
		}
	}
	f := newFlaky(base, map[string]int{"list": 2})
	var got []string
	err := objstore.WithRetry(f, 10*time.Second).List(t.Context(), "", func(o objstore.ObjectInfo) error {
		got = append(got, o.Key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("retried List delivered %q, want each key once: %q", got, want)
	}
	if f.count("list") != 3 {
		t.Fatalf("List called %d times, want 3", f.count("list"))
	}
}

func TestRetryListCallbackErrorNotRetried(t *testing.T) {
	t.Parallel()
	base := openLocal(t, t.TempDir())
	if err := base.Put(t.Context(), "k", strings.NewReader("v")); err != nil {
		t.Fatal(err)
	}
	f := newFlaky(base, nil)
	cbErr := errUnavailable{} // looks transient, but is the caller's
	err := objstore.WithRetry(f, 10*time.Second).List(t.Context(), "", func(objstore.ObjectInfo) error {
		return cbErr
	})
	if err != cbErr { // returned as is, not wrapped
		t.Fatalf("List = %v (%T), want the callback's error as is", err, err)
	}
	if f.count("list") != 1 {
		t.Fatalf("List called %d times, want 1", f.count("list"))
	}
}
