package tabular

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go/format"
)

// maxPageBytes bounds a Parquet page's uncompressed size: the reader
// allocates that much before it decompresses the page. Writers cut pages
// far smaller (8 KiB to a few MiB).
const maxPageBytes = 256 << 20

// headerWindow is how much of a column chunk checkPages reads at a time to
// find a page header (a larger header, with long statistics, doubles it,
// up to the chunk's end).
const headerWindow = 64 << 10

// checkPages reads the page headers of the column chunks of the row groups
// of p, without the pages, and rejects sizes that cannot be: a page longer
// than what is left of its column chunk, an uncompressed page over
// maxPageBytes. parquet-go allocates a page's sizes as its header claims
// them (up to 2 GiB each, for a file of a few bytes) before it reads the
// page; so do its header's strings, which this reader bounds by the chunk.
// md has passed checkParquet: every chunk lies within the file.
func checkPages(ctx context.Context, ra io.ReaderAt, p Piece, md *format.FileMetaData) error {
	var base int64
	for g := range md.RowGroups {
		rg := &md.RowGroups[g]
		lo, hi := max(p.RowStart, base), min(p.RowEnd, base+rg.NumRows)
		base += rg.NumRows
		if lo >= hi {
			continue
		}
		for c := range rg.Columns {
			m := &rg.Columns[c].MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			if err := checkChunkPages(ctx, ra, start, start+m.TotalCompressedSize); err != nil {
				return fmt.Errorf("%w: %s: row group %d, column %v: %v", ErrMalformed, p.Key, g, m.PathInSchema, err)
			}
		}
	}
	return nil
}

// checkChunkPages walks the page headers of the column chunk [start, end).
func checkChunkPages(ctx context.Context, ra io.ReaderAt, start, end int64) error {
	var (
		win    []byte
		winAt  int64
		window = int64(headerWindow)
	)
	for pos := start; pos < end; {
		if err := ctx.Err(); err != nil {
			return err
		}
		if pos < winAt || pos >= winAt+int64(len(win)) {
			n := min(window, end-pos)
			win, winAt = make([]byte, n), pos
			if _, err := ra.ReadAt(win, pos); err != nil && !errors.Is(err, io.EOF) {
				return err
			}
		}
		h, err := skimPageHeader(win[pos-winAt:])
		if errors.Is(err, errShortHeader) && winAt+int64(len(win)) < end {
			window *= 2 // a header longer than the window: read more of the chunk
			win = win[:0]
			continue
		}
		if err != nil {
			return fmt.Errorf("page header at byte %d: %w", pos, err)
		}
		left := end - pos - h.length
		switch {
		case h.compressed > left:
			return fmt.Errorf("the page at byte %d claims %d bytes, %d are left in its column chunk", pos, h.compressed, left)
		case h.uncompressed > maxPageBytes:
			return fmt.Errorf("the page at byte %d claims %d bytes uncompressed, over the limit of %d", pos, h.uncompressed, maxPageBytes)
		}
		pos += h.length + h.compressed
		window = headerWindow
	}
	return nil
}

// pageSizes are what skimPageHeader reads of a page header.
type pageSizes struct {
	length                   int64 // the header's own bytes
	compressed, uncompressed int64
}

// errShortHeader: the bytes end inside the header.
var errShortHeader = errors.New("the page header runs past the bytes read")

// skimPageHeader reads a Thrift compact PageHeader from b without
// allocating: its compressed_page_size (field 3) and uncompressed_page_size
// (field 2); every other field is skipped, each length checked against b.
func skimPageHeader(b []byte) (pageSizes, error) {
	s := skimmer{b: b}
	var h pageSizes
	var seen [4]bool
	err := s.fields(0, func(id int16, typ byte) error {
		if (id == 2 || id == 3) && typ == 5 {
			v, err := s.zigzag()
			if err != nil {
				return err
			}
			if v < 0 || v > 1<<31-1 {
				return fmt.Errorf("field %d is %d", id, v)
			}
			if id == 2 {
				h.uncompressed = v
			} else {
				h.compressed = v
			}
			seen[id] = true
			return nil
		}
		return s.skip(typ, 0)
	})
	if err != nil {
		return h, err
	}
	if !seen[2] || !seen[3] {
		return h, errors.New("a page header without its sizes")
	}
	h.length = int64(s.i)
	return h, nil
}

// skimmer reads Thrift's compact protocol from b.
type skimmer struct {
	b []byte
	i int
}

// maxDepth bounds the nesting of structs and lists skimmed.
const maxDepth = 32

func (s *skimmer) byte1() (byte, error) {
	if s.i >= len(s.b) {
		return 0, errShortHeader
	}
	s.i++
	return s.b[s.i-1], nil
}

func (s *skimmer) uvarint() (uint64, error) {
	v, n := binary.Uvarint(s.b[s.i:])
	switch {
	case n == 0:
		return 0, errShortHeader
	case n < 0:
		return 0, errors.New("a varint overflows 64 bits")
	}
	s.i += n
	return v, nil
}

func (s *skimmer) zigzag() (int64, error) {
	v, err := s.uvarint()
	return int64(v>>1) ^ -int64(v&1), err
}

// bytes skips n bytes.
func (s *skimmer) bytes(n uint64) error {
	if n > uint64(len(s.b)-s.i) {
		return errShortHeader
	}
	s.i += int(n)
	return nil
}

// fields calls fn with each field of a struct, up to its stop byte; fn
// reads or skips the field's value.
func (s *skimmer) fields(depth int, fn func(id int16, typ byte) error) error {
	if depth > maxDepth {
		return errors.New("structs nested too deep")
	}
	var id int16
	for {
		h, err := s.byte1()
		if err != nil {
			return err
		}
		if h == 0 {
			return nil
		}
		if delta := h >> 4; delta != 0 {
			id += int16(delta)
		} else {
			v, err := s.zigzag()
			if err != nil {
				return err
			}
			id = int16(v)
		}
		if err := fn(id, h&0x0f); err != nil {
			return err
		}
	}
}

// skip skips a value of compact type typ.
func (s *skimmer) skip(typ byte, depth int) error {
	if depth > maxDepth {
		return errors.New("values nested too deep")
	}
	switch typ {
	case 1, 2: // a bool field holds its value in its type
		return nil
	case 3:
		_, err := s.byte1()
		return err
	case 4, 5, 6:
		_, err := s.uvarint()
		return err
	case 7:
		return s.bytes(8)
	case 8:
		n, err := s.uvarint()
		if err != nil {
			return err
		}
		return s.bytes(n)
	case 9, 10:
		return s.skipList(depth)
	case 11:
		return s.skipMap(depth)
	case 12:
		return s.fields(depth+1, func(_ int16, t byte) error { return s.skip(t, depth+1) })
	default:
		return fmt.Errorf("unknown Thrift type %d", typ)
	}
}

func (s *skimmer) skipList(depth int) error {
	h, err := s.byte1()
	if err != nil {
		return err
	}
	n, elem := uint64(h>>4), h&0x0f
	if n == 15 {
		if n, err = s.uvarint(); err != nil {
			return err
		}
	}
	if elem == 1 || elem == 2 {
		elem = 3 // bools in a list take a byte each
	}
	for range n {
		if err := s.skip(elem, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (s *skimmer) skipMap(depth int) error {
	n, err := s.uvarint()
	if err != nil || n == 0 {
		return err
	}
	kv, err := s.byte1()
	if err != nil {
		return err
	}
	k, v := kv>>4, kv&0x0f
	if k == 1 || k == 2 {
		k = 3 // bools in a map take a byte each
	}
	if v == 1 || v == 2 {
		v = 3
	}
	for range n {
		if err := s.skip(k, depth+1); err != nil {
			return err
		}
		if err := s.skip(v, depth+1); err != nil {
			return err
		}
	}
	return nil
}
