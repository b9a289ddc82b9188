package tabular_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// rangedStore is a store that offers GetRange, as objstore's S3 backend is
// to; it refuses empty ranges as S3 does.
type rangedStore struct {
	objstore.Store
	dir   string
	calls atomic.Int64
}

func (s *rangedStore) GetRange(_ context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if n <= 0 {
		return nil, fmt.Errorf("invalid range %d+%d", off, n)
	}
	s.calls.Add(1)
	f, err := os.Open(filepath.Join(s.dir, key))
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, off, n), f}, nil
}

func TestRangesUsesGetRange(t *testing.T) {
	t.Parallel()
	b := setup(t)
	obj := b.write("rows.jsonl", func(w *bufio.Writer) { writeJSONL(w, 5000) })
	b.put("empty.csv", "")
	store := &rangedStore{Store: b.store, dir: b.dir}
	b.r = &countingRanges{r: tabular.Ranges(store)}
	pieces, err := b.plan(obj, tabular.JSONL, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := b.readAll(pieces)
	if len(good) != 5000 || len(bad) != 0 {
		t.Fatalf("%d good, %d failed", len(good), len(bad))
	}
	if got, want := store.calls.Load(), int64(2*len(pieces)); got != want {
		t.Errorf("%d GetRange calls, want %d (a probe per cut, the head, a read per piece)", got, want)
	}
	// An empty piece asks for nothing.
	p := tabular.Piece{Key: "rows.jsonl", Format: tabular.JSONL, ObjectSize: obj.Size, Start: 10, End: 10}
	if c, err := tabular.ReadPiece(b.ctx, b.r, p, func(tabular.Record) error { return nil }, nil); err != nil || c != (tabular.Counts{}) {
		t.Errorf("empty piece: %+v, %v", c, err)
	}
	if pieces, err := b.plan(b.stat("empty.csv"), tabular.CSV, 1); err != nil || len(pieces) != 0 {
		t.Errorf("empty CSV: %d pieces, %v", len(pieces), err)
	}
}

func TestReadPieceRejectsInvalidPieces(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.put("a.csv", "a\n1\n")
	for _, p := range []tabular.Piece{
		{Key: "a.csv", Format: "xlsx", ObjectSize: 4, End: 4},
		{Key: "a.csv", Format: tabular.CSV, ObjectSize: 4, Start: 2, End: 9, Columns: []string{"a"}},
		{Key: "a.csv", Format: tabular.CSV, ObjectSize: 4, Start: 2, End: 4},
		{Key: "", Format: tabular.JSONL, ObjectSize: 4, End: 4},
		{Key: "a.parquet", Format: tabular.Parquet, RowStart: 5, RowEnd: 2},
	} {
		if _, err := tabular.ReadPiece(b.ctx, b.r, p, func(tabular.Record) error { return nil }, nil); err == nil {
			t.Errorf("ReadPiece(%+v) succeeded", p)
		}
	}
	_, err := tabular.ReadPiece(b.ctx, b.r, tabular.Piece{Key: "gone.csv", Format: tabular.CSV, ObjectSize: 4, End: 4, Columns: []string{"a"}},
		func(tabular.Record) error { return nil }, nil)
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("absent object: %v, want ErrNotFound", err)
	}
}
