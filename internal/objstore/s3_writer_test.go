package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

const testPartSize = 5 << 20 // S3's smallest part but the last

func randomData(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeAll writes data to w in writes of 32 KiB, as io.Copy does.
func writeAll(t testing.TB, w objstore.Writer, data []byte) {
	t.Helper()
	for len(data) > 0 {
		k := min(32<<10, len(data))
		if _, err := w.Write(data[:k]); err != nil {
			t.Fatal(err)
		}
		data = data[k:]
	}
}

// noUploads fails the test when multipart uploads are left in s's bucket.
func noUploads(t *testing.T, s objstore.Store) {
	t.Helper()
	keys, err := objstore.MultipartUploadsForTest(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		t.Fatalf("multipart uploads left behind: %q", keys)
	}
}

func TestS3CreateMultipart(t *testing.T) {
	t.Parallel()
	opts := s3Options(t)
	opts.PartSize = testPartSize
	s := objstore.WithRetry(openS3(t, "s3://"+minio.NewBucket(t)+"/pre", opts), time.Minute)
	ctx := t.Context()
	data := randomData(t, 2*testPartSize+7)
	w, err := objstore.Create(ctx, s, "final.txt")
	if err != nil {
		t.Fatal(err)
	}
	writeAll(t, w, data)
	if _, err := s.Stat(ctx, "final.txt"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("before Close, Stat = %v, want ErrNotFound", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := s.Stat(ctx, "final.txt")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(data)) || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("Stat = %+v, want %d bytes in 3 parts", info, len(data))
	}
	rc, err := s.Get(ctx, "final.txt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, %v; want the %d written", len(got), err, len(data))
	}
	noUploads(t, s)
}

func TestS3CreateAbortLeavesNothing(t *testing.T) {
	t.Parallel()
	opts := s3Options(t)
	opts.PartSize = testPartSize
	s := openS3(t, "s3://"+minio.NewBucket(t), opts)
	old := []byte("the old object")
	if err := s.Put(t.Context(), "old", bytes.NewReader(old)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		stop func(w objstore.Writer, cancel context.CancelFunc) error
	}{
		{"Abort", func(w objstore.Writer, _ context.CancelFunc) error { w.Abort(); return nil }},
		{"canceled", func(w objstore.Writer, cancel context.CancelFunc) error {
			cancel()
			if _, err := w.Write([]byte("more")); !errors.Is(err, context.Canceled) {
				return err
			}
			return w.Close()
		}},
	} {
		for _, key := range []string{"new", "old"} {
			ctx, cancel := context.WithCancel(t.Context())
			w, err := objstore.Create(ctx, s, key)
			if err != nil {
				t.Fatal(err)
			}
			writeAll(t, w, randomData(t, 2*testPartSize+1)) // two parts sent
			if err := tc.stop(w, cancel); tc.name == "canceled" && !errors.Is(err, context.Canceled) {
				t.Fatalf("%s %s: Close = %v, want context.Canceled", tc.name, key, err)
			}
			cancel()
			noUploads(t, s)
		}
		if _, err := s.Stat(t.Context(), "new"); !errors.Is(err, objstore.ErrNotFound) {
			t.Fatalf("%s: Stat(new) = %v, want ErrNotFound", tc.name, err)
		}
		rc, err := s.Get(t.Context(), "old")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, old) {
			t.Fatalf("%s: the old object changed: %d bytes", tc.name, len(got))
		}
	}
}

// retrySeen signals when the store logs a retry.
type retrySeen struct {
	slog.Handler
	seen chan struct{}
}

func (h retrySeen) Handle(ctx context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

func TestS3CreateOutageRetriesParts(t *testing.T) {
	t.Parallel()
	srv := miniotest.Start(t) // own server: this test stops it
	opts := s3OptionsFor(t, srv)
	opts.PartSize = testPartSize
	seen := make(chan struct{}, 1)
	opts.Logger = slog.New(retrySeen{Handler: opts.Logger.Handler(), seen: seen})
	s := objstore.WithRetry(openS3(t, "s3://"+srv.NewBucket(t), opts), time.Minute)
	ctx := t.Context()
	data := randomData(t, 2*testPartSize+3)
	w, err := objstore.Create(ctx, s, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	writeAll(t, w, data[:testPartSize+1]) // the upload is created
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	result := make(chan error, 1)
	go func() {
		writeAll(t, w, data[testPartSize+1:])
		result <- w.Close()
	}()
	select {
	case <-seen:
	case <-time.After(30 * time.Second):
		t.Fatal("no retry logged while the server was down")
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-result:
		if err != nil {
			t.Fatalf("Close across an outage = %v", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("the upload did not recover after the restart")
	}
	rc, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, want the %d written", len(got), len(data))
	}
	noUploads(t, s)
}

// TestCreateMemoryBounded measures the bytes allocated while streaming an
// object of 16 parts: a writer that held the object would allocate at
// least its size. Not parallel, so that other tests' allocations do not
// count.
func TestCreateMemoryBounded(t *testing.T) {
	const size = 16 * testPartSize
	opts := s3Options(t)
	opts.PartSize = testPartSize
	stores := map[string]objstore.Store{
		"s3":    objstore.WithRetry(openS3(t, "s3://"+minio.NewBucket(t), opts), time.Minute),
		"local": objstore.WithRetry(openLocal(t, t.TempDir()), time.Minute),
	}
	chunk := randomData(t, 32<<10)
	for name, s := range stores {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, err := objstore.Create(t.Context(), s, "big")
		if err != nil {
			t.Fatal(err)
		}
		for range size / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %d MiB object streamed with %.1f MiB allocated", name, size>>20, float64(alloc)/(1<<20))
		if alloc > size/2 {
			t.Errorf("%s: %d bytes allocated for a %d-byte object: memory grows with the object", name, alloc, size)
		}
		info, err := s.Stat(t.Context(), "big")
		if err != nil || info.Size != size {
			t.Fatalf("%s: Stat = %+v, %v", name, info, err)
		}
	}
}

// TestCreateSmallObjectsHoldLittle opens 16 writers at once, as the
// copies of output_dir files are, each for an object of 1 KiB with the
// default part size of 16 MiB: a writer that held a whole part from the
// start would allocate 256 MiB. Not parallel, so that other tests'
// allocations do not count.
func TestCreateSmallObjectsHoldLittle(t *testing.T) {
	s := objstore.WithRetry(openS3(t, "s3://"+minio.NewBucket(t), s3Options(t)), time.Minute)
	body := randomData(t, 1<<10)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var ws []objstore.Writer
	for i := range 16 {
		w, err := objstore.Create(t.Context(), s, fmt.Sprintf("small-%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Abort()
		if _, err := w.Write(body); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("16 writers of 1 KiB open: %.1f MiB allocated", float64(alloc)/(1<<20))
	if alloc > 16<<20 {
		t.Errorf("16 writers of 1 KiB allocated %d bytes: each holds a part of memory however small its object", alloc)
	}
	for i, w := range ws {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if info, err := s.Stat(t.Context(), fmt.Sprintf("small-%02d", i)); err != nil || info.Size != int64(len(body)) {
			t.Fatalf("small-%02d: Stat = %+v, %v", i, info, err)
		}
	}
}

// TestCopyAcrossStores streams an object of three parts from a local
// folder to S3 and back, and leaves the destination as it was when the
// source is missing.
func TestCopyAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	opts := s3Options(t)
	opts.PartSize = testPartSize
	remote := objstore.WithRetry(openS3(t, "s3://"+minio.NewBucket(t), opts), time.Minute)
	local := openLocal(t, t.TempDir())
	data := randomData(t, 2*testPartSize+5)
	if err := local.Put(ctx, "a/src", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := objstore.Copy(ctx, local, "a/src", remote, "b/dst"); err != nil {
		t.Fatal(err)
	}
	if info, err := remote.Stat(ctx, "b/dst"); err != nil || !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("Stat = %+v, %v; want 3 parts", info, err)
	}
	if err := objstore.Copy(ctx, remote, "b/dst", local, "c/back"); err != nil {
		t.Fatal(err)
	}
	rc, err := local.Get(ctx, "c/back")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("round trip: %d bytes, want the %d put", len(got), len(data))
	}
	if err := objstore.Copy(ctx, local, "missing", remote, "b/dst"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("Copy of a missing object = %v, want ErrNotFound", err)
	}
	if err := objstore.Move(ctx, remote, "b/dst", "b/moved"); err != nil {
		t.Fatal(err)
	}
	if _, err := remote.Stat(ctx, "b/dst"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("after Move, Stat(source) = %v, want ErrNotFound", err)
	}
	if info, err := remote.Stat(ctx, "b/moved"); err != nil || info.Size != int64(len(data)) {
		t.Fatalf("after Move, Stat = %+v, %v", info, err)
	}
	noUploads(t, remote)
}
