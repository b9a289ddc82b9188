package tabular_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/parallelrun/prs/internal/tabular"
)

var writeSeeds = flag.Bool("write-seeds", false, "write the malformed files of TestParquetPageHeaderSizesAreBounded as seeds of FuzzPlanParquet")

// withPageHeader returns the Parquet file b (one row group, no page index
// needed) with the first page header of its first column chunk changed by
// edit; the offsets of the footer follow the header's new length, and the
// page index is dropped (its page locations would not follow).
func withPageHeader(t testing.TB, b []byte, edit func(*format.PageHeader)) []byte {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-n:len(b)-8], &md); err != nil {
		t.Fatal(err)
	}
	m := &md.RowGroups[0].Columns[0].MetaData
	start := m.DataPageOffset
	if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
		start = m.DictionaryPageOffset
	}
	var h format.PageHeader
	if err := thrift.NewDecoder(new(thrift.CompactProtocol).NewReader(bytes.NewReader(b[start:]))).Decode(&h); err != nil {
		t.Fatal(err)
	}
	old, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil || !bytes.HasPrefix(b[start:], old) {
		t.Fatalf("the page header does not read back as written: %v", err)
	}
	edit(&h)
	hdr, err := thrift.Marshal(new(thrift.CompactProtocol), &h)
	if err != nil {
		t.Fatal(err)
	}
	delta := int64(len(hdr) - len(old))
	shift := func(off *int64) {
		if *off > start {
			*off += delta
		}
	}
	for g := range md.RowGroups {
		rg := &md.RowGroups[g]
		for c := range rg.Columns {
			cc := &rg.Columns[c]
			cc.ColumnIndexOffset, cc.ColumnIndexLength, cc.OffsetIndexOffset, cc.OffsetIndexLength = 0, 0, 0, 0
			shift(&cc.FileOffset)
			shift(&cc.MetaData.DataPageOffset)
			shift(&cc.MetaData.DictionaryPageOffset)
		}
		shift(&rg.FileOffset)
	}
	m.TotalCompressedSize += delta
	md.RowGroups[0].TotalCompressedSize += delta
	data := slices.Concat(b[:start], hdr, b[start+int64(len(old)):len(b)-8-n])
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, footer...)
	data = binary.LittleEndian.AppendUint32(data, uint32(len(footer)))
	return append(data, "PAR1"...)
}

// A page header that claims a page larger than its column chunk, or a huge
// page once uncompressed, fails its piece with ErrMalformed before the
// reader allocates what it claims (2 GiB each, for a file of a few
// hundred bytes).
func TestParquetPageHeaderSizesAreBounded(t *testing.T) {
	var good bytes.Buffer
	writeParquet(t, &good, 5, 0)
	for _, tc := range []struct {
		name string
		edit func(*format.PageHeader)
		want string
	}{
		{"compressed", func(h *format.PageHeader) { h.CompressedPageSize = 1<<31 - 1 }, "claims 2147483647 bytes, "},
		{"uncompressed", func(h *format.PageHeader) { h.UncompressedPageSize = 1<<31 - 1 }, "claims 2147483647 bytes uncompressed, over the limit of 268435456"},
		{"unchanged", func(*format.PageHeader) {}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := withPageHeader(t, good.Bytes(), tc.edit)
			pieces, err := planAll(t, data, "t.parquet", tabular.Parquet, 1<<20)
			if err != nil || len(pieces) != 1 {
				t.Fatalf("Plan: %d pieces, %v", len(pieces), err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			c, err := tabular.ReadPiece(t.Context(), memRanges(data), pieces[0], func(tabular.Record) error { return nil }, nil)
			runtime.ReadMemStats(&after)
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Fatalf("reading %d bytes allocated %d MiB", len(data), alloc>>20)
			}
			if tc.want == "" {
				if err != nil || c.Good != 5 {
					t.Fatalf("the file with its header written again: %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tabular.ErrMalformed) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "t.parquet: row group 0, column [") {
				t.Fatalf("ReadPiece: %v, want ErrMalformed saying %q", err, tc.want)
			}
			if *writeSeeds {
				writeFuzzSeed(t, "FuzzPlanParquet", "page-header-"+tc.name, data)
			}
		})
	}
}

// writeFuzzSeed writes data as a seed of the fuzz target (testdata/fuzz).
func writeFuzzSeed(t *testing.T, target, name string, data []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\nuint16(0)\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readRows reads piece p of data and returns its records' JSON, or the
// error, and fails the test if it allocated over 64 MiB.
func readRows(t *testing.T, data []byte, p tabular.Piece) ([]string, error) {
	t.Helper()
	var got []string
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := tabular.ReadPiece(t.Context(), memRanges(data), p, func(r tabular.Record) error {
		got = append(got, string(r.JSON))
		return nil
	}, nil)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20+uint64(len(data))*16 {
		t.Fatalf("reading %d bytes allocated %d MiB", len(data), alloc>>20)
	}
	return got, err
}

// Page headers longer than parquet-go's reads (their statistics copy the
// page's long values) are checked across the reads that hold them, and
// read, whole pieces and pieces that seek into the row group alike.
func TestParquetLongPageHeadersRead(t *testing.T) {
	type row struct {
		ID   int64  `parquet:"id"`
		Blob string `parquet:"blob"`
	}
	const rows = 12
	var data bytes.Buffer
	w := parquet.NewGenericWriter[row](&data, parquet.Compression(&parquet.Uncompressed), parquet.PageBufferSize(1<<10))
	for i := range rows {
		// 300 KiB, over the 256 KiB parquet-go reads at a time: each page
		// header holds four copies of it.
		if _, err := w.Write([]row{{ID: int64(i + 1), Blob: strings.Repeat(string(rune('a'+i)), 300<<10)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{1 << 30, 1 << 20} {
		pieces, err := planAll(t, data.Bytes(), "long.parquet", tabular.Parquet, size)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int
		for _, p := range pieces {
			got, err := readRows(t, data.Bytes(), p)
			if err != nil {
				t.Fatalf("pieces of %d bytes: %v: %v", size, p, err)
			}
			for _, js := range got {
				var r row
				if err := json.Unmarshal([]byte(js), &r); err != nil || len(r.Blob) != 300<<10 || r.Blob[0] != byte('a'+r.ID-1) {
					t.Fatalf("row %.40q: %v", js, err)
				}
				ids = append(ids, int(r.ID))
			}
		}
		if len(ids) != rows || !slices.IsSorted(ids) || len(pieces) < 2 && size < 1<<30 {
			t.Fatalf("pieces of %d bytes: %d pieces, ids %v", size, len(pieces), ids)
		}
	}
}

// A page header string whose length claims more than its column chunk holds
// (268 MiB, in a file of 2 MiB) fails the piece before parquet-go allocates
// it, though the header is longer than one of parquet-go's reads.
func TestParquetPageHeaderStringIsBounded(t *testing.T) {
	var good bytes.Buffer
	writeParquet(t, &good, 5, 0)
	marker := bytes.Repeat([]byte{0xab}, 1<<21)
	data := withPageHeader(t, good.Bytes(), func(h *format.PageHeader) {
		if h.DataPageHeaderV2.Valid {
			h.DataPageHeaderV2.V.Statistics.MaxValue = marker
		} else {
			h.DataPageHeader.V.Statistics.MaxValue = marker
		}
	})
	// 1<<21 is the varint 80 80 80 01; claim 1<<28-1 (ff ff ff 7f) instead.
	at := bytes.Index(data, append([]byte{0x80, 0x80, 0x80, 0x01}, marker[:16]...))
	if at < 0 {
		t.Fatal("the statistics string is not in the file")
	}
	copy(data[at:], []byte{0xff, 0xff, 0xff, 0x7f})
	pieces, err := planAll(t, data, "t.parquet", tabular.Parquet, 1<<30)
	if err != nil || len(pieces) != 1 {
		t.Fatalf("Plan: %d pieces, %v", len(pieces), err)
	}
	_, err = readRows(t, data, pieces[0])
	if !errors.Is(err, tabular.ErrMalformed) || !strings.Contains(err.Error(), "runs past the end of its column chunk") {
		t.Fatalf("ReadPiece: %v, want ErrMalformed saying the header runs past its chunk", err)
	}
}

// An offset index that puts a page inside another page fails the piece:
// parquet-go would seek there and decode the page's data as a header (here
// one that claims a 2 GiB page) that no walk from the chunk's start checks.
func TestParquetOffsetIndexInsideAPageIsRefused(t *testing.T) {
	type row struct {
		ID  int64  `parquet:"id"`
		Val string `parquet:"val"`
	}
	fake, err := thrift.Marshal(new(thrift.CompactProtocol), &format.PageHeader{
		Type: format.DataPage, UncompressedPageSize: 16, CompressedPageSize: 1<<31 - 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 400
	var good bytes.Buffer
	w := parquet.NewGenericWriter[row](&good, parquet.Compression(&parquet.Uncompressed), parquet.PageBufferSize(2<<10))
	for i := range rows {
		v := fmt.Sprintf("value %d", i)
		if i == 1 {
			v = string(fake)
		}
		if _, err := w.Write([]row{{ID: int64(i), Val: v}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := good.Bytes()
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[len(b)-8-n:len(b)-8], &md); err != nil {
		t.Fatal(err)
	}
	// Column val's offset index, its page 1 moved to the fake header in
	// page 0's values. parquet-go reads the offset indexes as one run: write
	// them all again after the data.
	data := slices.Clone(b[:len(b)-8-n])
	fakeAt := int64(bytes.Index(b, fake))
	var first int64
	for c := range md.RowGroups[0].Columns {
		cc := &md.RowGroups[0].Columns[c]
		var index format.OffsetIndex
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), b[cc.OffsetIndexOffset:cc.OffsetIndexOffset+int64(cc.OffsetIndexLength)], &index); err != nil {
			t.Fatal(err)
		}
		if c == 1 {
			if len(index.PageLocations) < 3 || fakeAt < 0 || fakeAt > index.PageLocations[1].Offset {
				t.Fatalf("%d pages, the fake header at byte %d", len(index.PageLocations), fakeAt)
			}
			first = index.PageLocations[1].FirstRowIndex
			index.PageLocations[1].Offset = fakeAt
		}
		blob, err := thrift.Marshal(new(thrift.CompactProtocol), &index)
		if err != nil {
			t.Fatal(err)
		}
		cc.OffsetIndexOffset, cc.OffsetIndexLength = int64(len(data)), int32(len(blob))
		data = append(data, blob...)
	}
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		t.Fatal(err)
	}
	data = append(data, footer...)
	data = binary.LittleEndian.AppendUint32(data, uint32(len(footer)))
	data = append(data, "PAR1"...)

	pieces, err := planAll(t, data, "t.parquet", tabular.Parquet, 1<<30)
	if err != nil || len(pieces) != 1 {
		t.Fatalf("Plan: %d pieces, %v", len(pieces), err)
	}
	p := pieces[0]
	p.RowStart, p.FirstRow, p.Rows = first, first+1, p.RowEnd-first // seek to page 1
	_, err = readRows(t, data, p)
	if !errors.Is(err, tabular.ErrMalformed) || !strings.Contains(err.Error(), "t.parquet: row group 0, column [val]: ") {
		t.Fatalf("ReadPiece: %v, want ErrMalformed naming column val", err)
	}
	t.Log(err)
}
