package tabular

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/parquet-go/parquet-go/format"
)

// MaxPageBytes bounds a Parquet page's uncompressed size, 256 MiB: the
// reader allocates that much before it decompresses the page, so a header
// may not make it allocate more. Writers cut pages far smaller (8 KiB to a
// few MiB; Arrow and parquet-mr aim at 1 MiB); a file with a larger page
// fails its piece with [ErrMalformed], an error that names the page, its
// size and this limit. Rewrite such a file with smaller pages.
const MaxPageBytes = 256 << 20

// maxHeaderBytes bounds a page header: its statistics may hold the page's
// least and greatest values twice (min_value, max_value and the deprecated
// min, max), each at most a page.
const maxHeaderBytes = 4 * MaxPageBytes

// maxCursors bounds the sequential readers pageGuard follows in one column
// chunk. parquet-go has two at most at a time (the pages, and the
// dictionary read again after a seek); each seek starts a new one and
// leaves the old, which is dropped once maxCursors newer ones came.
const maxCursors = 16

// pageGuard is the io.ReaderAt that parquet-go reads a piece's pages
// through. It checks each page header in the bytes it hands out, before
// parquet-go can decode it, and refuses sizes that cannot be: a page longer
// than what is left of its column chunk, an uncompressed page over
// [MaxPageBytes], a header whose strings run past its chunk. parquet-go
// allocates a page's sizes as its header claims them (up to 2 GiB each, for
// a file of a few bytes) before it reads the page, and a header's strings as
// their lengths claim them before it reads them.
//
// The check costs no read of its own: parquet-go reads each column chunk
// sequentially (a buffered reader over a section of the file), from the
// chunk's start or from a page it seeks to (the first data page, or one of
// the offset index), and pageGuard follows each such reader (a cursor) from
// header to header, keeping only a header cut by the end of a read (as many
// bytes as it has). A read that continues no cursor starts a page header.
// The places parquet-go may seek to must be page starts: a data page
// offset or an offset index entry that falls inside a page or header the
// cursor walked fails the read, so no header that parquet-go decodes escapes
// the check.
//
// Until arm, it passes reads through (the footer and page index reads).
type pageGuard struct {
	io.ReaderAt
	key     string
	mu      sync.Mutex
	chunks  []guardChunk // by start
	overlap bool         // some chunks overlap (each refused when read)
	err     error        // the first refusal: every read after it fails
}

// guardChunk is one column chunk [start, end) of the file.
type guardChunk struct {
	start, end int64
	group      int
	path       []string
	dataAt     int64                 // the first data page, where parquet-go seeks without an offset index
	pages      []format.PageLocation // the offset index: where parquet-go seeks with one
	err        error                 // an offset index out of order, refused when the chunk is read
	cursors    []*pageCursor         // least recently used first
}

// pageCursor follows one sequential reader of a column chunk.
type pageCursor struct {
	pos     int64  // where its next read starts: the end of its last one
	hdrAt   int64  // the next page header
	partial []byte // the header's bytes [hdrAt, pos) when a read ended inside it
	need    int    // the header bytes the skimmer needs to go on with partial
}

// arm starts checking the column chunks of md, the footer parquet-go read
// (checkParquet passed: every chunk lies in the file), with the offset
// index it loaded (file order: row group by row group; nil without one).
func (g *pageGuard) arm(key string, md *format.FileMetaData, index []format.OffsetIndex) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.key = key
	j := 0
	for gi := range md.RowGroups {
		for ci := range md.RowGroups[gi].Columns {
			m := &md.RowGroups[gi].Columns[ci].MetaData
			// The chunk starts where parquet-go starts to read it.
			c := guardChunk{start: m.DataPageOffset, group: gi, path: m.PathInSchema, dataAt: m.DataPageOffset}
			if m.DictionaryPageOffset != 0 {
				c.start = m.DictionaryPageOffset
			}
			c.end = c.start + m.TotalCompressedSize
			if j < len(index) {
				c.pages = index[j].PageLocations
				if !slices.IsSortedFunc(c.pages, func(a, b format.PageLocation) int { return cmp.Compare(a.Offset, b.Offset) }) {
					c.err = errors.New("the offset index lists its pages out of order")
				}
			}
			j++
			g.chunks = append(g.chunks, c)
		}
	}
	slices.SortStableFunc(g.chunks, func(a, b guardChunk) int { return cmp.Compare(a.start, b.start) })
	// Chunks that overlap cannot tell whose reader a read is: refuse them.
	last := -1 // the chunk that ends last so far
	for i := range g.chunks {
		if last >= 0 && g.chunks[i].start < g.chunks[last].end {
			err := fmt.Errorf("column chunks overlap at byte %d (row group %d, column %v ends at byte %d)",
				g.chunks[i].start, g.chunks[last].group, g.chunks[last].path, g.chunks[last].end)
			g.chunks[i].err, g.chunks[last].err = err, cmp.Or(g.chunks[last].err, err)
			g.overlap = true
		}
		if last < 0 || g.chunks[i].end > g.chunks[last].end {
			last = i
		}
	}
}

// failure is the refusal that failed a read, if one did.
func (g *pageGuard) failure() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *pageGuard) ReadAt(p []byte, off int64) (int, error) {
	if err := g.failure(); err != nil {
		return 0, err
	}
	n, err := g.ReaderAt.ReadAt(p, off)
	if n > 0 {
		g.mu.Lock()
		defer g.mu.Unlock()
		if cerr := g.check(p[:n], off); cerr != nil {
			g.err = cerr
			return 0, cerr
		}
	}
	return n, err
}

// check checks the page headers in b, the bytes at off just read.
func (g *pageGuard) check(b []byte, off int64) error {
	i := sort.Search(len(g.chunks), func(i int) bool { return g.chunks[i].start > off }) - 1
	for g.overlap && i >= 0 && off >= g.chunks[i].end {
		i-- // an earlier chunk may hold off too
	}
	if i < 0 || off >= g.chunks[i].end {
		return nil // not a page's bytes
	}
	c := &g.chunks[i]
	err := c.err
	if err == nil {
		b = b[:min(int64(len(b)), c.end-off)]
		cur := c.cursor(off)
		if err = c.feed(cur, b, off); err == nil && cur.pos >= c.end {
			c.cursors = slices.DeleteFunc(c.cursors, func(x *pageCursor) bool { return x == cur })
		}
	}
	if err != nil {
		return fmt.Errorf("%w: %s: row group %d, column %v: %v", ErrMalformed, g.key, c.group, c.path, err)
	}
	return nil
}

// cursor returns the cursor whose reader reads on at off, or a new one
// whose first page header is at off.
func (c *guardChunk) cursor(off int64) *pageCursor {
	for i, cur := range c.cursors {
		if cur.pos == off {
			c.cursors = append(slices.Delete(c.cursors, i, i+1), cur)
			return cur
		}
	}
	if len(c.cursors) == maxCursors {
		c.cursors = slices.Delete(c.cursors, 0, 1)
	}
	cur := &pageCursor{pos: off, hdrAt: off}
	c.cursors = append(c.cursors, cur)
	return cur
}

// feed checks the page headers that start in b, the bytes at off that
// cur's reader reads next, and the one cut by b's end as far as b holds it.
func (c *guardChunk) feed(cur *pageCursor, b []byte, off int64) error {
	end := off + int64(len(b))
	for cur.hdrAt < end {
		hdr := b[max(cur.hdrAt-off, 0):]
		if cur.partial != nil { // the header began in an earlier read: add what it needs of b
			have := cur.hdrAt + int64(len(cur.partial))
			take := min(end-have, max(int64(cur.need-len(cur.partial)), 4<<10))
			cur.partial = append(cur.partial, b[have-off:have-off+take]...)
			hdr = cur.partial
		}
		limit := int(min(c.end-cur.hdrAt, maxHeaderBytes))
		h, need, err := skimPageHeader(hdr, limit)
		if errors.Is(err, errShortHeader) {
			if cur.partial == nil {
				cur.partial = bytes.Clone(hdr)
			}
			cur.need = need
			if cur.hdrAt+int64(len(cur.partial)) < end {
				continue // more of b to add
			}
			if err := c.noSeekInside(cur.hdrAt, end); err != nil {
				return err
			}
			break
		}
		cur.partial = nil
		switch {
		case errors.Is(err, errHeaderTooLong) && limit < maxHeaderBytes:
			return fmt.Errorf("the page header at byte %d runs past the end of its column chunk at byte %d", cur.hdrAt, c.end)
		case errors.Is(err, errHeaderTooLong):
			return fmt.Errorf("the page header at byte %d is longer than the limit of %d bytes", cur.hdrAt, maxHeaderBytes)
		case err != nil:
			return fmt.Errorf("page header at byte %d: %w", cur.hdrAt, err)
		}
		left := c.end - cur.hdrAt - h.length
		switch {
		case h.compressed > left:
			return fmt.Errorf("the page at byte %d claims %d bytes, %d are left in its column chunk", cur.hdrAt, h.compressed, left)
		case h.uncompressed > MaxPageBytes:
			return fmt.Errorf("the page at byte %d claims %d bytes uncompressed, over the limit of %d (%d MiB, tabular.MaxPageBytes) on one page", cur.hdrAt, h.uncompressed, MaxPageBytes, MaxPageBytes>>20)
		}
		next := cur.hdrAt + h.length + h.compressed
		if err := c.noSeekInside(cur.hdrAt, next); err != nil {
			return err
		}
		cur.hdrAt = next
	}
	cur.pos = end
	return nil
}

// noSeekInside refuses a place parquet-go may seek to (a page header) that
// lies inside the page, or the header, that starts at lo and runs to hi.
func (c *guardChunk) noSeekInside(lo, hi int64) error {
	if lo < c.dataAt && c.dataAt < hi {
		return fmt.Errorf("the first data page is to start at byte %d, inside the page at byte %d", c.dataAt, lo)
	}
	i := sort.Search(len(c.pages), func(i int) bool { return c.pages[i].Offset > lo })
	if i < len(c.pages) && c.pages[i].Offset < hi {
		return fmt.Errorf("the offset index puts page %d at byte %d, inside the page at byte %d", i, c.pages[i].Offset, lo)
	}
	return nil
}

// pageSizes are what skimPageHeader reads of a page header.
type pageSizes struct {
	length                   int64 // the header's own bytes
	compressed, uncompressed int64
}

var (
	// errShortHeader: the bytes end inside the header, which may go on.
	errShortHeader = errors.New("the page header runs past the bytes read")
	// errHeaderTooLong: the header, or a length or count in it, runs past
	// the limit given to skimPageHeader.
	errHeaderTooLong = errors.New("the page header runs past its limit")
)

// skimPageHeader reads a Thrift compact PageHeader from b without
// allocating: its compressed_page_size (field 3) and uncompressed_page_size
// (field 2); every other field is skipped. The header may take limit bytes
// at most: a string length or list count that would run past them fails
// with errHeaderTooLong, even before b holds them (parquet-go allocates a
// string as its length claims before it reads it). When b ends inside the
// header (errShortHeader), need is how many bytes the skimmer needs to go
// on.
func skimPageHeader(b []byte, limit int) (h pageSizes, need int, err error) {
	s := skimmer{b: b[:min(len(b), limit)], limit: limit}
	var seen [4]bool
	err = s.fields(0, func(id int16, typ byte) error {
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
		return h, s.need, err
	}
	if !seen[2] || !seen[3] {
		return h, 0, errors.New("a page header without its sizes")
	}
	h.length = int64(s.i)
	return h, 0, nil
}

// skimmer reads Thrift's compact protocol from b.
type skimmer struct {
	b     []byte
	i     int
	limit int // the bytes the value may take
	need  int // after errShortHeader: the bytes needed to go on
}

// short fails a read of n bytes at i that b does not hold.
func (s *skimmer) short(n uint64) error {
	if n > uint64(s.limit-s.i) {
		return errHeaderTooLong
	}
	s.need = s.i + int(n)
	return errShortHeader
}

// maxDepth bounds the nesting of structs and lists skimmed.
const maxDepth = 32

func (s *skimmer) byte1() (byte, error) {
	if s.i >= len(s.b) {
		return 0, s.short(1)
	}
	s.i++
	return s.b[s.i-1], nil
}

func (s *skimmer) uvarint() (uint64, error) {
	v, n := binary.Uvarint(s.b[s.i:])
	switch {
	case n == 0:
		return 0, s.short(uint64(len(s.b)-s.i) + 1)
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
		return s.short(n)
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
	if n > uint64(s.limit-s.i) {
		return errHeaderTooLong // each value takes a byte at least
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
	if n > uint64(s.limit-s.i)/2 {
		return errHeaderTooLong // each key and value takes a byte at least
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
