package storetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
)

// writeChunks writes data to w in chunks of uneven sizes.
func writeChunks(t *testing.T, w objstore.Writer, data []byte) {
	t.Helper()
	for i, n := 0, 1; len(data) > 0; i, n = i+1, n*7%65521+1 {
		k := min(n, len(data))
		if _, err := w.Write(data[:k]); err != nil {
			t.Fatalf("Write of chunk %d: %v", i, err)
		}
		data = data[k:]
	}
}

// testCreate streams objects with objstore.Create: nothing is visible
// before Close, the whole object after it, and Abort keeps the old object.
func testCreate(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	data := randomBytes(t, 300<<10+3)
	w, err := objstore.Create(ctx, s, "dir/streamed")
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, data)
	if _, err := s.Stat(ctx, "dir/streamed"); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("before Close, Stat = %v, want ErrNotFound", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Abort() // a no-op after Close
	if got := get(t, s, "dir/streamed"); !bytes.Equal(got, data) {
		t.Fatalf("Get = %d bytes, want the %d written", len(got), len(data))
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, objstore.ErrWriterDone) {
		t.Fatalf("Write after Close = %v, want ErrWriterDone", err)
	}

	// An empty object.
	w, err = objstore.Create(ctx, s, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, "empty"); len(got) != 0 {
		t.Fatalf("Get(empty) = %d bytes", len(got))
	}

	// Abort keeps the old object; so does a context ended before Close.
	w, err = objstore.Create(ctx, s, "dir/streamed")
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, randomBytes(t, 100<<10))
	w.Abort()
	if err := w.Close(); !errors.Is(err, objstore.ErrWriterDone) {
		t.Fatalf("Close after Abort = %v, want ErrWriterDone", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	w, err = objstore.Create(cctx, s, "dir/streamed")
	if err != nil {
		t.Fatal(err)
	}
	writeChunks(t, w, randomBytes(t, 100<<10))
	cancel()
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close after the context ended = %v, want context.Canceled", err)
	}
	if got := get(t, s, "dir/streamed"); !bytes.Equal(got, data) {
		t.Fatalf("after Abort, Get = %d bytes, want the old object", len(got))
	}
	if got := keys(list(t, s, "")); !slices.Equal(got, []string{"dir/streamed", "empty"}) {
		t.Fatalf("List = %q, want the two objects (no temporary files)", got)
	}
	if _, err := objstore.Create(ctx, s, "/abs"); !errors.Is(err, objstore.ErrInvalidKey) {
		t.Fatalf("Create(/abs) = %v, want ErrInvalidKey", err)
	}
}
