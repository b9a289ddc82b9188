package tabular_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// bundle is what a test needs: a local store in a temp folder and a
// RangeReader over it that counts what it reads.
type bundle struct {
	t     testing.TB
	ctx   context.Context
	dir   string
	store objstore.Store
	r     *countingRanges
}

func setup(t testing.TB) *bundle {
	t.Helper()
	dir := t.TempDir()
	store, err := objstore.Open(t.Context(), dir, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &bundle{t: t, ctx: t.Context(), dir: dir, store: store, r: &countingRanges{r: tabular.Ranges(store)}}
}

// stat describes key.
func (b *bundle) stat(key string) objstore.ObjectInfo {
	b.t.Helper()
	info, err := b.store.Stat(b.ctx, key)
	if err != nil {
		b.t.Fatal(err)
	}
	return info
}

// write creates key with a generator that writes through w.
func (b *bundle) write(key string, gen func(w *bufio.Writer)) objstore.ObjectInfo {
	b.t.Helper()
	f, err := os.Create(filepath.Join(b.dir, key))
	if err != nil {
		b.t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	gen(w)
	if err := w.Flush(); err != nil {
		b.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.t.Fatal(err)
	}
	return b.stat(key)
}

// plan collects the pieces of obj.
func (b *bundle) plan(obj objstore.ObjectInfo, format tabular.Format, size int64) ([]tabular.Piece, error) {
	var pieces []tabular.Piece
	err := tabular.Plan(b.ctx, b.r, obj, format, size, func(p tabular.Piece) error {
		pieces = append(pieces, p)
		return nil
	})
	return pieces, err
}

// readAll reads every piece and returns the good records and the failed rows.
func (b *bundle) readAll(pieces []tabular.Piece) ([]tabular.Record, []*tabular.RowError) {
	b.t.Helper()
	var good []tabular.Record
	var bad []*tabular.RowError
	for _, p := range pieces {
		c, err := tabular.ReadPiece(b.ctx, b.r, p, func(r tabular.Record) error {
			good = append(good, r)
			return nil
		}, func(e *tabular.RowError) { bad = append(bad, e) })
		if err != nil {
			b.t.Fatalf("read %v: %v", p, err)
		}
		if p.Rows > 0 && c.Good+c.Bad != p.Rows {
			b.t.Fatalf("read %v: %d good + %d bad, planned %d", p, c.Good, c.Bad, p.Rows)
		}
	}
	return good, bad
}

// countingRanges counts the ranged reads and the bytes read through them.
type countingRanges struct {
	r            tabular.RangeReader
	reads, bytes atomic.Int64
}

func (c *countingRanges) ReadRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	rc, err := c.r.ReadRange(ctx, key, off, n)
	if err != nil {
		return nil, err
	}
	c.reads.Add(1)
	return &countingReader{rc, c}, nil
}

func (c *countingRanges) reset() { c.reads.Store(0); c.bytes.Store(0) }

type countingReader struct {
	io.ReadCloser
	c *countingRanges
}

func (r *countingReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.c.bytes.Add(int64(n))
	return n, err
}

// csvRow is the data row i (1-based) of the test CSV: quoted commas every
// 3rd row, quoted line breaks (LF and CRLF) every 5th and 7th, doubled quotes
// every 11th, an empty field every 13th.
func csvRow(i int) []string {
	name := fmt.Sprintf("name %d", i)
	if i%3 == 0 {
		name = fmt.Sprintf("Doe, Jane %d", i)
	}
	note := "plain"
	switch {
	case i%5 == 0:
		note = fmt.Sprintf("line one\nline two of %d", i)
	case i%7 == 0:
		note = fmt.Sprintf("a,b\r\nc \"quoted\" %d\n", i)
	case i%11 == 0:
		note = `say "hi", then "bye"`
	case i%13 == 0:
		note = ""
	}
	return []string{fmt.Sprint(i), name, note, fmt.Sprintf("%d.%02d", i*7, i%100)}
}

var csvHeader = []string{"id", "name", "note", "value"}

// writeCSV writes the header and rows 1..n with encoding/csv and returns the
// byte offset after each record (ends[0] is the header's end).
func writeCSV(w *bufio.Writer, n int) []int64 {
	ends := make([]int64, 0, n+1)
	var off int64
	put := func(rec []string) {
		var sb strings.Builder
		one := csv.NewWriter(&sb)
		one.Write(rec)
		one.Flush()
		off += int64(sb.Len())
		ends = append(ends, off)
		w.WriteString(sb.String())
	}
	put(csvHeader)
	for i := 1; i <= n; i++ {
		put(csvRow(i))
	}
	return ends
}

// jsonRow is line i (1-based) of the test JSON Lines file.
func jsonRow(i int) string {
	return fmt.Sprintf(`{"id":%d,"text":"line\nbreak, \"quoted\" ünïcode %d","n":[%d,%d]}`, i, i, i, i*2)
}

// writeJSONL writes lines 1..n, a blank line after every 1000th, and
// returns the byte offset after each physical line (blank ones included).
func writeJSONL(w *bufio.Writer, n int) []int64 {
	ends := make([]int64, 0, n+n/1000)
	var off int64
	for i := 1; i <= n; i++ {
		line := jsonRow(i) + "\n"
		w.WriteString(line)
		off += int64(len(line))
		ends = append(ends, off)
		if i%1000 == 0 {
			w.WriteString("\n")
			off++
			ends = append(ends, off)
		}
	}
	return ends
}

// pqRow is a row of the test Parquet files.
type pqRow struct {
	ID    int64   `parquet:"id"`
	Name  string  `parquet:"name"`
	Score float64 `parquet:"score"`
	Note  *string `parquet:"note,optional"`
}

func pqRowAt(i int) pqRow {
	r := pqRow{ID: int64(i), Name: fmt.Sprintf("row %d: %x", i, uint64(i)*0x9e3779b97f4a7c15), Score: float64(i) / 4}
	if i%2 == 0 {
		s := fmt.Sprintf("note, %d", i)
		r.Note = &s
	}
	return r
}

// writeParquet writes rows 1..n in row groups of rowsPerGroup rows (0: one
// row group), uncompressed so that the file's size follows n.
func writeParquet(t testing.TB, w io.Writer, n, rowsPerGroup int) {
	t.Helper()
	pw := parquet.NewGenericWriter[pqRow](w, parquet.Compression(&parquet.Uncompressed), parquet.PageBufferSize(16<<10))
	batch := make([]pqRow, 0, 1000)
	inGroup := 0
	for i := 1; i <= n; i++ {
		batch = append(batch, pqRowAt(i))
		inGroup++
		if len(batch) == cap(batch) || i == n || (rowsPerGroup > 0 && inGroup == rowsPerGroup) {
			if _, err := pw.Write(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
		if rowsPerGroup > 0 && inGroup == rowsPerGroup && i < n {
			if err := pw.Flush(); err != nil {
				t.Fatal(err)
			}
			inGroup = 0
		}
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
}

// gridCuts applies the documented cutting rule to known record ends: the
// first record end at or after each grid position, from the data start
// (first), excluding the object's end.
func gridCuts(first int64, ends []int64, size, pieceSize int64) []int64 {
	var cuts []int64
	next := (first/pieceSize + 1) * pieceSize
	for _, e := range ends {
		if e >= next && e < size {
			cuts = append(cuts, e)
			next = (e/pieceSize + 1) * pieceSize
		}
	}
	return cuts
}
