package tabular

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/parallelrun/prs/internal/objstore"
)

// Read buffers of Parquet: planning reads the magic header and the footer
// (one optimistic read of the file's last footerRead bytes); reading a piece
// buffers each column chunk's pages pageRead bytes at a time.
const (
	footerRead = 64 << 10
	pageRead   = 256 << 10
	rowBatch   = 256
)

// openParquet opens the file's footer. Errors other than r's own and ctx's
// wrap ErrMalformed. parquet-go reads the file through the pageGuard,
// which checks nothing until armed.
func openParquet(ctx context.Context, r RangeReader, key string, size int64, opts ...parquet.FileOption) (*parquet.File, *pageGuard, func() error, error) {
	ra, closeFn, err := openReaderAt(ctx, r, key, size)
	if err != nil {
		return nil, nil, nil, err
	}
	guard := &pageGuard{ReaderAt: ra}
	var f *parquet.File
	err = noPanic(func() (err error) {
		f, err = parquet.OpenFile(footerGuard{guard, size}, size, opts...)
		return err
	})
	if err != nil {
		closeFn()
		if ctx.Err() != nil || errors.Is(err, ErrChanged) || errors.Is(err, objstore.ErrNotFound) {
			return nil, nil, nil, fmt.Errorf("tabular: open Parquet %s: %w", key, err)
		}
		return nil, nil, nil, fmt.Errorf("%w: %s: not a readable Parquet file (truncated?): %v", ErrMalformed, key, err)
	}
	return f, guard, closeFn, nil
}

// footerGuard refuses the read of a Parquet file's last bytes when the
// footer length they end with cannot fit in the file: parquet-go allocates
// a buffer of that length (up to 4 GiB, for a file of a few bytes) before it
// reads the footer.
type footerGuard struct {
	io.ReaderAt
	size int64
}

func (g footerGuard) ReadAt(p []byte, off int64) (int, error) {
	n, err := g.ReaderAt.ReadAt(p, off)
	if n >= 8 && off+int64(n) == g.size {
		// "PAR1", 4 bytes, the footer, its length (4 bytes), "PAR1".
		if length := int64(binary.LittleEndian.Uint32(p[n-8:])); length > g.size-12 {
			return 0, fmt.Errorf("a footer of %d bytes does not fit in the file's %d bytes", length, g.size)
		}
	}
	return n, err
}

// rowGroupBytes is the stored (compressed) size of a row group, at most
// the file's size: a corrupt footer may claim any size, and the number of
// pieces follows it.
func rowGroupBytes(rg *format.RowGroup, fileSize int64) int64 {
	if rg.TotalCompressedSize > 0 {
		return min(rg.TotalCompressedSize, fileSize)
	}
	var n int64
	for i := range rg.Columns {
		n += rg.Columns[i].MetaData.TotalCompressedSize // each checked to lie in the file
	}
	return min(n, fileSize)
}

// checkParquet rejects metadata that cannot describe this file: row counts
// that do not add up, column chunks outside the file.
func checkParquet(key string, size int64, md *format.FileMetaData) error {
	var rows int64
	for g := range md.RowGroups {
		rg := &md.RowGroups[g]
		if rg.NumRows < 0 {
			return fmt.Errorf("%w: %s: row group %d has %d rows", ErrMalformed, key, g, rg.NumRows)
		}
		rows += rg.NumRows
		for c := range rg.Columns {
			m := &rg.Columns[c].MetaData
			off := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < off {
				off = m.DictionaryPageOffset
			}
			if off < 4 || m.TotalCompressedSize < 0 || off+m.TotalCompressedSize > size-8 {
				return fmt.Errorf("%w: %s: row group %d, column %v: bytes %d+%d lie outside the file's %d bytes",
					ErrMalformed, key, g, m.PathInSchema, off, m.TotalCompressedSize, size)
			}
		}
	}
	if rows != md.NumRows {
		return fmt.Errorf("%w: %s: row groups hold %d rows, the footer says %d", ErrMalformed, key, rows, md.NumRows)
	}
	return nil
}

// planParquet reads the footer only. Row groups of at most pieceSize stored
// bytes are packed in order into pieces of at most pieceSize bytes; a larger
// row group is cut into ceil(bytes/pieceSize) row ranges of equal rows.
func planParquet(ctx context.Context, r RangeReader, obj objstore.ObjectInfo, pieceSize int64, fn func(Piece) error) error {
	f, _, closeFn, err := openParquet(ctx, r, obj.Key, obj.Size,
		parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.OptimisticRead(true), parquet.ReadBufferSize(footerRead))
	if err != nil {
		return err
	}
	defer closeFn()
	md := f.Metadata()
	if err := checkParquet(obj.Key, obj.Size, md); err != nil {
		return err
	}
	var columns []string
	for _, field := range f.Schema().Fields() {
		columns = append(columns, field.Name())
	}
	piece := func(g int, lo, hi int64) error {
		return fn(Piece{Key: obj.Key, Format: Parquet, ObjectSize: obj.Size, RowGroup: g,
			RowStart: lo, RowEnd: hi, Columns: columns, FirstRow: lo + 1, Rows: hi - lo})
	}
	var (
		base               int64 // first row of row group g
		packGroup          = -1  // first row group of the pending pack
		packStart, packEnd int64 // its rows
		packBytes          int64
	)
	flush := func() error {
		if packGroup < 0 {
			return nil
		}
		g := packGroup
		packGroup, packBytes = -1, 0
		return piece(g, packStart, packEnd)
	}
	for g := range md.RowGroups {
		rows, size := md.RowGroups[g].NumRows, rowGroupBytes(&md.RowGroups[g], obj.Size)
		lo := base
		base += rows
		if rows == 0 {
			continue
		}
		if size <= pieceSize {
			if packGroup >= 0 && packBytes+size > pieceSize {
				if err := flush(); err != nil {
					return err
				}
			}
			if packGroup < 0 {
				packGroup, packStart = g, lo
			}
			packEnd, packBytes = lo+rows, packBytes+size
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		k := min(rows, (size+pieceSize-1)/pieceSize)
		for i := range k {
			if err := piece(g, lo+i*rows/k, lo+(i+1)*rows/k); err != nil {
				return err
			}
		}
	}
	return flush()
}

func readParquet(ctx context.Context, r RangeReader, p Piece, fn func(Record) error, bad func(*RowError)) (c Counts, err error) {
	f, guard, closeFn, err := openParquet(ctx, r, p.Key, p.ObjectSize,
		parquet.SkipBloomFilters(true), parquet.SkipPageIndex(false), parquet.ReadBufferSize(pageRead))
	if err != nil {
		return c, err
	}
	defer closeFn()
	// The footer's column chunks must lie in the file; the page headers are
	// checked as parquet-go reads them, before it decodes them.
	if err := checkParquet(p.Key, p.ObjectSize, f.Metadata()); err != nil {
		return c, err
	}
	guard.arm(p.Key, f.Metadata(), f.OffsetIndexes())
	schema := f.Schema()
	fields := schema.Fields()
	buf := make([]parquet.Row, rowBatch)
	var obj bytes.Buffer
	var base int64
	for g, rg := range f.RowGroups() {
		n := rg.NumRows()
		lo, hi := max(p.RowStart, base), min(p.RowEnd, base+n)
		if lo < hi {
			if err := readRowRange(ctx, rg, g, lo-base, hi-base, buf, func(rowIndex int64, row parquet.Row) error {
				obj.Reset()
				if err := rowJSON(&obj, schema, fields, row); err != nil {
					c.Bad++
					bad(&RowError{Key: p.Key, Row: base + rowIndex + 1, Offset: -1, Err: err})
					return nil
				}
				c.Good++
				return fn(Record{Row: base + rowIndex + 1, Offset: -1, JSON: bytes.Clone(obj.Bytes())})
			}); err != nil {
				if gerr := guard.failure(); gerr != nil {
					return c, gerr // a page header refused, whatever parquet-go made of it
				}
				if errors.Is(err, errRows) {
					err = fmt.Errorf("%w: %s: row group %d: %v", ErrMalformed, p.Key, g, err)
				}
				return c, err
			}
		}
		base += n
		if base >= p.RowEnd {
			break
		}
	}
	if base < p.RowEnd {
		return c, fmt.Errorf("%w: %v: the file has %d rows", ErrChanged, p, base)
	}
	return c, nil
}

// errRows marks an error of the Parquet row reader.
var errRows = errors.New("reading rows")

// noPanic calls fn, a call into parquet-go, and turns its panic into an
// error: parquet-go panics on some corrupt files (a slice bound read from
// the file), and a hostile file must fail its object or piece, not take
// down the producer or the worker.
func noPanic(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the Parquet reader failed: %v", r)
		}
	}()
	return fn()
}

// readRowRange calls each for the rows [lo, hi) of row group rg (indexes
// within the row group).
func readRowRange(ctx context.Context, rg parquet.RowGroup, g int, lo, hi int64, buf []parquet.Row, each func(int64, parquet.Row) error) error {
	var rows parquet.Rows
	if err := noPanic(func() error { rows = rg.Rows(); return nil }); err != nil {
		return fmt.Errorf("%w: %v", errRows, err)
	}
	defer noPanic(rows.Close)
	if err := noPanic(func() error { return rows.SeekToRow(lo) }); err != nil {
		return fmt.Errorf("%w: seek to row %d: %v", errRows, lo, err)
	}
	for i := lo; i < hi; {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n int
		err := noPanic(func() (err error) {
			n, err = rows.ReadRows(buf[:min(int64(len(buf)), hi-i)])
			return err
		})
		for _, row := range buf[:n] {
			if err := each(i, row); err != nil {
				return err
			}
			i++
		}
		if n == 0 && err == nil {
			return fmt.Errorf("%w: row group %d: the reader gave no row at row %d", errRows, g, i) // not a loop forever
		}
		if err == io.EOF && i < hi {
			return fmt.Errorf("%w: row group %d ends after %d rows, the footer says more", errRows, g, i)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("%w: %v", errRows, err)
		}
	}
	return nil
}

// rowJSON writes row as a JSON object whose top-level keys follow the
// schema's field order. Nested groups become objects (keys sorted), lists
// arrays; BYTE_ARRAY values become strings; NaN and infinities become null.
func rowJSON(w *bytes.Buffer, schema *parquet.Schema, fields []parquet.Field, row parquet.Row) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decode row: %v", r)
		}
	}()
	m := map[string]any{}
	if err := schema.Reconstruct(&m, row); err != nil {
		return err
	}
	w.WriteByte('{')
	for i, field := range fields {
		if i > 0 {
			w.WriteByte(',')
		}
		k, _ := json.Marshal(field.Name())
		v, err := json.Marshal(finite(m[field.Name()]))
		if err != nil {
			return err
		}
		w.Write(k)
		w.WriteByte(':')
		w.Write(v)
	}
	w.WriteByte('}')
	return nil
}

// finite replaces NaN and infinite floats, which JSON cannot hold, by nil,
// in v and in the maps and slices it holds.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	case float32:
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
	case map[string]any:
		for k, e := range x {
			x[k] = finite(e)
		}
	case []any:
		for i, e := range x {
			x[i] = finite(e)
		}
	}
	return v
}
