package tabular

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// guardedChunk writes a file of many small pages and returns it with its
// footer, its offset index and the bounds of its first column chunk.
func guardedChunk(t *testing.T) (data []byte, md *format.FileMetaData, index []format.OffsetIndex, start, end int64) {
	t.Helper()
	type row struct {
		ID   int64  `parquet:"id"`
		Name string `parquet:"name"`
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[row](&b, parquet.Compression(&parquet.Uncompressed), parquet.PageBufferSize(512))
	for i := range 2000 {
		if _, err := w.Write([]row{{ID: int64(i), Name: strings.Repeat("n", i%50)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	md = f.Metadata()
	m := &md.RowGroups[0].Columns[0].MetaData
	if m.DictionaryPageOffset != 0 {
		t.Fatal("a dictionary page: the test wants none")
	}
	start = m.DataPageOffset
	index = f.OffsetIndexes()
	if len(index[0].PageLocations) < 10 {
		t.Fatalf("%d pages", len(index[0].PageLocations))
	}
	return b.Bytes(), md, index, start, start + m.TotalCompressedSize
}

// readSeq reads [start, end) through g in reads of step bytes, as
// parquet-go's buffered reader does, and returns the first error.
func readSeq(g *pageGuard, start, end int64, step int) error {
	buf := make([]byte, step)
	for off := start; off < end; off += int64(step) {
		if _, err := g.ReadAt(buf[:min(int64(step), end-off)], off); err != nil {
			return err
		}
	}
	return nil
}

// The guard follows a reader from header to header whatever its reads'
// sizes (headers cut by a read's end included), and refuses an offset index
// entry or a data page offset that falls inside a page it walked.
func TestPageGuardFollowsReads(t *testing.T) {
	data, md, index, start, end := guardedChunk(t)
	for _, step := range []int{1, 7, 100, 4096, int(end - start)} {
		g := &pageGuard{ReaderAt: bytes.NewReader(data)}
		g.arm("k", md, index)
		if err := readSeq(g, start, end, step); err != nil {
			t.Fatalf("reads of %d bytes: %v", step, err)
		}
		if n := len(g.chunks[0].cursors); n != 0 {
			t.Fatalf("reads of %d bytes: %d cursors left at the chunk's end", step, n)
		}
	}
	// Seeks to each page, then a read of part of it.
	g := &pageGuard{ReaderAt: bytes.NewReader(data)}
	g.arm("k", md, index)
	for _, loc := range index[0].PageLocations {
		if _, err := g.ReadAt(make([]byte, 3), loc.Offset); err != nil {
			t.Fatalf("a read at page %+v: %v", loc, err)
		}
	}

	for _, tc := range []struct {
		name string
		edit func(md *format.FileMetaData, pages []format.PageLocation)
		want string
	}{
		{"offset index", func(_ *format.FileMetaData, pages []format.PageLocation) { pages[3].Offset += 5 }, "the offset index puts page 3 at byte"},
		{"data page offset", func(md *format.FileMetaData, _ []format.PageLocation) {
			// the first page as a dictionary page, the data said to start inside it
			m := &md.RowGroups[0].Columns[0].MetaData
			m.DictionaryPageOffset, m.DataPageOffset = m.DataPageOffset, m.DataPageOffset+2
		}, "the first data page is to start at byte"},
		{"overlap", func(md *format.FileMetaData, _ []format.PageLocation) {
			m := &md.RowGroups[0].Columns[1].MetaData
			m.DictionaryPageOffset, m.DataPageOffset = 0, md.RowGroups[0].Columns[0].MetaData.DataPageOffset+100
		}, "column chunks overlap at byte"},
	} {
		for _, step := range []int{1, 100, int(end - start)} {
			md2 := *md
			md2.RowGroups = slices.Clone(md.RowGroups)
			md2.RowGroups[0].Columns = slices.Clone(md.RowGroups[0].Columns)
			index2 := slices.Clone(index)
			index2[0].PageLocations = slices.Clone(index[0].PageLocations)
			tc.edit(&md2, index2[0].PageLocations)
			g := &pageGuard{ReaderAt: bytes.NewReader(data)}
			g.arm("k", &md2, index2)
			err := readSeq(g, start, end, step)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s, reads of %d bytes: %v, want %q", tc.name, step, err, tc.want)
			}
			if _, again := g.ReadAt(make([]byte, 1), 0); !errors.Is(again, ErrMalformed) {
				t.Fatalf("%s: a read after the refusal: %v", tc.name, again)
			}
		}
	}
}
