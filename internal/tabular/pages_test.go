package tabular_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

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
