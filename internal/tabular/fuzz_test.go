package tabular_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// memRanges reads byte ranges of one in-memory object (any key).
func memRanges(data []byte) tabular.RangeReader {
	return tabular.RangeReaderFunc(func(_ context.Context, key string, off, n int64) (io.ReadCloser, error) {
		if off < 0 || n < 0 {
			return nil, fmt.Errorf("negative range %d+%d of %s", off, n, key)
		}
		lo := min(off, int64(len(data)))
		hi := min(lo+n, int64(len(data)))
		return io.NopCloser(bytes.NewReader(data[lo:hi])), nil
	})
}

// entry is one record as read: a good one's fields or JSON, or a failed
// row, with the offset where it starts.
type entry struct {
	offset int64
	good   bool
	fields []string
	json   string
}

// fuzzPieceSize maps a fuzzed number to a small piece size, so that small
// inputs are cut into many pieces.
func fuzzPieceSize(n uint16) int64 { return int64(n%512) + 1 }

// maxFuzzPieces stops a plan that would publish more pieces than any input
// of a fuzzing run can justify.
const maxFuzzPieces = 1 << 16

var errTooManyPieces = errors.New("too many pieces")

// planAll plans data as one object and returns its pieces.
func planAll(t *testing.T, data []byte, key string, format tabular.Format, size int64) ([]tabular.Piece, error) {
	t.Helper()
	var pieces []tabular.Piece
	err := tabular.Plan(t.Context(), memRanges(data), objstore.ObjectInfo{Key: key, Size: int64(len(data))}, format, size,
		func(p tabular.Piece) error {
			if len(pieces) == maxFuzzPieces {
				return errTooManyPieces
			}
			pieces = append(pieces, p)
			return nil
		})
	if errors.Is(err, errTooManyPieces) {
		t.Fatalf("%d bytes planned at %d bytes a piece into more than %d pieces", len(data), size, maxFuzzPieces)
	}
	return pieces, err
}

// readAllEntries reads every piece and returns its records in order.
func readAllEntries(t *testing.T, data []byte, pieces []tabular.Piece) ([]entry, error) {
	t.Helper()
	var out []entry
	for _, p := range pieces {
		var got []entry
		c, err := tabular.ReadPiece(t.Context(), memRanges(data), p, func(r tabular.Record) error {
			got = append(got, entry{offset: r.Offset, good: true, fields: slices.Clone(r.Fields), json: string(r.JSON)})
			return nil
		}, func(e *tabular.RowError) {
			got = append(got, entry{offset: e.Offset})
		})
		if err != nil {
			return out, fmt.Errorf("%v: %w", p, err)
		}
		if c.Good+c.Bad != int64(len(got)) || (p.Rows > 0 && c.Good+c.Bad != p.Rows) {
			t.Fatalf("%v: counts %+v for %d records, planned %d", p, c, len(got), p.Rows)
		}
		out = append(out, got...)
	}
	return out, nil
}

// checkByteCover checks that byte pieces tile [first, size) in order,
// none empty, and that there are at most ceil(size/pieceSize) of them.
func checkByteCover(t *testing.T, pieces []tabular.Piece, first, size, pieceSize int64) {
	t.Helper()
	at := first
	for i, p := range pieces {
		if p.Start != at || p.End <= p.Start || p.ObjectSize != size {
			t.Fatalf("piece %d is %v of %d bytes, want one that starts at %d and is not empty", i, p, p.ObjectSize, at)
		}
		at = p.End
	}
	if len(pieces) > 0 && at != size {
		t.Fatalf("the pieces end at %d, the object at %d", at, size)
	}
	if n := int64(len(pieces)); n > (size+pieceSize-1)/pieceSize {
		t.Fatalf("%d pieces for %d bytes at %d", n, size, pieceSize)
	}
}

// dataErr reports whether err is one of the errors a bad object may give.
func dataErr(err error) bool {
	for _, e := range []error{tabular.ErrBinary, tabular.ErrMalformed, tabular.ErrRecordTooLong} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

var csvSeeds = []string{
	"id,name\n1,a\n2,b\n3,c\n",
	"id,name\r\n1,\"a,b\"\r\n2,\"line\nbreak\"\r\n\r\n3,\"say \"\"hi\"\"\"\r\n",
	"\ufeffid,v\n1,2\n\n\n4,5,6\n7\n",
	"a,b\n1,bare \"quote\n2,\"closed\" then\n3,4",
	"h\n\"open\n", "h\n\"a\"\"b\nc\"\n", "h\n", "", "\n\n", "a,b", "x\n\"\"\n\n\"\"", "a\n1\x002\n", "\"h\nx",
	"k,v\n1,\"\r\n\"\n2,\r\r\n3,x\r",
}

// FuzzPlanCSV plans any bytes as a CSV object at small piece sizes and reads
// every piece back. Plan fails only with a data error; otherwise the pieces
// tile the object after the header exactly once, in order, with row numbers
// that follow on, at most ceil(size/pieceSize) of them; and reading them
// gives exactly the records (good and failed, with their offsets) of one
// pass of encoding/csv over the whole object.
func FuzzPlanCSV(f *testing.F) {
	for i, s := range csvSeeds {
		f.Add([]byte(s), uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		size := fuzzPieceSize(n)
		pieces, err := planAll(t, data, "t.csv", tabular.CSV, size)
		if err != nil {
			if !dataErr(err) {
				t.Fatalf("Plan: %v, want a data error", err)
			}
			if errors.Is(err, tabular.ErrBinary) && bytes.IndexByte(data, 0) < 0 {
				t.Fatalf("Plan: %v, but the data holds no NUL byte", err)
			}
			return
		}
		header, first, want := csvReference(data)
		if len(pieces) == 0 {
			if len(want) > 0 {
				t.Fatalf("no pieces for %d records", len(want))
			}
			return
		}
		checkByteCover(t, pieces, first, int64(len(data)), size)
		row := int64(1)
		for i, p := range pieces {
			if p.Format != tabular.CSV || p.FirstRow != row || p.Rows < 1 || !slices.Equal(p.Columns, header) {
				t.Fatalf("piece %d: %+v, want rows from %d, columns %q", i, p, row, header)
			}
			row += p.Rows
		}
		got, err := readAllEntries(t, data, pieces)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if !equalEntries(got, want) {
			t.Fatalf("records of the pieces:\n%+v\none pass over the object:\n%+v", got, want)
		}
	})
}

// csvReference reads data in one pass with encoding/csv as the package
// documents it: the header (a byte order mark removed), where the data
// starts, and each record: failed when it does not parse or has another
// number of fields than the header.
func csvReference(data []byte) ([]string, int64, []entry) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, 0, nil
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	first := cr.InputOffset()
	var out []entry
	for {
		off := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			return header, first, out
		}
		if err != nil || len(rec) != len(header) {
			out = append(out, entry{offset: off})
			continue
		}
		out = append(out, entry{offset: off, good: true, fields: rec})
	}
}

func equalEntries(a, b []entry) bool {
	return slices.EqualFunc(a, b, func(x, y entry) bool {
		return x.offset == y.offset && x.good == y.good && slices.Equal(x.fields, y.fields) && x.json == y.json
	})
}

var jsonlSeeds = []string{
	`{"a":1}` + "\n" + `{"a":2}` + "\n",
	"{\"id\":1,\"t\":\"line\\nbreak\"}\r\n\n  \n{\"id\":2}\n[1,2]\nnot json\n{\"id\":3}",
	"\n\n\n", "", "{}", "{\"a\":\"\xff\"}\n\"s\"\nnull\n{\"b\":{\"c\":[]}} \t\n", "{\"a\":1}\x00\n{\"b\":2}\n",
	"\u00a0\n{\"a\":1}\u00a0\n\u2028{}\n",
}

// FuzzPlanJSONL plans any bytes as a JSON Lines object at small piece sizes
// and reads every piece back. The pieces tile the object exactly once, in
// order, each cut at the first line start at or after its grid position;
// reading them gives exactly the lines of the object (blank ones skipped),
// each a good record when it is a JSON object and a failed row otherwise,
// with its offset; a NUL byte fails a piece that holds it, with ErrBinary.
func FuzzPlanJSONL(f *testing.F) {
	for i, s := range jsonlSeeds {
		f.Add([]byte(s), uint16(i*5))
	}
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		size := fuzzPieceSize(n)
		pieces, err := planAll(t, data, "t.jsonl", tabular.JSONL, size)
		if err != nil {
			if !errors.Is(err, tabular.ErrBinary) || bytes.IndexByte(data, 0) < 0 {
				t.Fatalf("Plan: %v, want ErrBinary for a NUL byte", err)
			}
			return
		}
		if len(data) == 0 {
			if len(pieces) != 0 {
				t.Fatalf("%d pieces of an empty object", len(pieces))
			}
			return
		}
		checkByteCover(t, pieces, 0, int64(len(data)), size)
		for i, p := range pieces[:len(pieces)-1] {
			cut := (p.Start/size + 1) * size
			want := cut + int64(bytes.IndexByte(data[cut-1:], '\n'))
			if p.End != want {
				t.Fatalf("piece %d %v ends at %d, want the line start %d after the grid position %d", i, p, p.End, want, cut)
			}
		}
		got, err := readAllEntries(t, data, pieces)
		if bytes.IndexByte(data, 0) >= 0 {
			if !errors.Is(err, tabular.ErrBinary) {
				t.Fatalf("read an object with a NUL byte: %v", err)
			}
			return
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if want := jsonlReference(data); !equalEntries(got, want) {
			t.Fatalf("records of the pieces:\n%+v\nthe object's lines:\n%+v", got, want)
		}
	})
}

// jsonlReference splits data into lines: blank ones (white space only) are
// skipped, a JSON object is a good record (trimmed), anything else a failed
// row; offsets are where each line starts.
func jsonlReference(data []byte) []entry {
	var out []entry
	for off := 0; off < len(data); {
		end := len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		text := bytes.TrimSpace(data[off:end])
		switch {
		case len(text) == 0:
		case json.Valid(text) && text[0] == '{':
			out = append(out, entry{offset: int64(off), good: true, json: string(text)})
		default:
			out = append(out, entry{offset: int64(off)})
		}
		off = end
	}
	return out
}

// parquetSeeds are small Parquet files: one row group, several, compressed
// pages, an optional column and nested values.
func parquetSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range []struct{ rows, perGroup int }{{5, 0}, {20, 3}, {1, 0}, {0, 0}} {
		var b bytes.Buffer
		writeParquet(f, &b, c.rows, c.perGroup)
		seeds = append(seeds, b.Bytes())
	}
	type nested struct {
		ID   int64             `parquet:"id"`
		Tags []string          `parquet:"tags,list"`
		Attr map[string]string `parquet:"attr"`
		Sub  *struct {
			X float32 `parquet:"x"`
			Y []byte  `parquet:"y,optional"`
		} `parquet:"sub,optional"`
	}
	var b bytes.Buffer
	w := parquet.NewGenericWriter[nested](&b, parquet.Compression(&parquet.Snappy))
	rows := []nested{{ID: 1, Tags: []string{"a", "b"}, Attr: map[string]string{"k": "v"}}, {ID: 2}}
	rows[1].Sub = &struct {
		X float32 `parquet:"x"`
		Y []byte  `parquet:"y,optional"`
	}{X: float32(math.NaN()), Y: []byte{0xff}}
	if _, err := w.Write(rows); err != nil {
		f.Fatal(err)
	}
	if err := w.Close(); err != nil {
		f.Fatal(err)
	}
	seeds = append(seeds, b.Bytes())
	// A footer whose row group claims a huge size and row count (both
	// consistent with the file's row count).
	var big bytes.Buffer
	writeParquet(f, &big, 4, 0)
	return append(seeds, withFooter(f, big.Bytes(), func(md *format.FileMetaData) {
		md.RowGroups[0].TotalCompressedSize, md.RowGroups[0].NumRows, md.NumRows = 1<<50, 1<<50, 1<<50
	}))
}

// withFooter returns the Parquet file b with its footer metadata changed by
// edit.
func withFooter(f *testing.F, b []byte, edit func(*format.FileMetaData)) []byte {
	n := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	data, footer := b[:len(b)-8-n], b[len(b)-8-n:len(b)-8]
	var md format.FileMetaData
	if err := thrift.Unmarshal(new(thrift.CompactProtocol), footer, &md); err != nil {
		f.Fatal(err)
	}
	edit(&md)
	footer, err := thrift.Marshal(new(thrift.CompactProtocol), &md)
	if err != nil {
		f.Fatal(err)
	}
	out := append(slices.Clone(data), footer...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(footer)))
	return append(out, "PAR1"...)
}

// FuzzPlanParquet plans any bytes as a Parquet object at small piece sizes
// and reads every piece. Neither panics; Plan allocates in proportion to
// the file's size, whatever lengths it claims, and fails only with
// ErrMalformed;
// otherwise the pieces are row ranges that tile the file's rows exactly
// once, in order, and there are not more of them than the row groups' bytes
// justify; reading a piece gives its planned number of rows or fails with
// ErrMalformed (a corrupt page).
func FuzzPlanParquet(f *testing.F) {
	for i, s := range parquetSeeds(f) {
		f.Add(s, uint16(i*97))
	}
	f.Add([]byte("PAR1"), uint16(0))
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		size := fuzzPieceSize(n)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		pieces, err := planAll(t, data, "t.parquet", tabular.Parquet, size)
		runtime.ReadMemStats(&after)
		// Planning reads the footer only: what it allocates follows the
		// file's size, not the lengths the file claims.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20+uint64(len(data))*64 {
			t.Fatalf("planning %d bytes allocated %d MiB", len(data), alloc>>20)
		}
		if err != nil {
			if !errors.Is(err, tabular.ErrMalformed) {
				t.Fatalf("Plan: %v, want ErrMalformed", err)
			}
			return
		}
		pf, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		if err != nil {
			t.Fatalf("Plan accepted a file parquet-go cannot open: %v", err)
		}
		groups := int64(len(pf.Metadata().RowGroups))
		if max := groups * ((int64(len(data))+size-1)/size + 1); int64(len(pieces)) > max {
			t.Fatalf("%d pieces for %d row groups in %d bytes at %d", len(pieces), groups, len(data), size)
		}
		var at int64
		for i, p := range pieces {
			if p.Format != tabular.Parquet || p.RowStart != at || p.RowEnd <= p.RowStart || p.Rows != p.RowEnd-p.RowStart ||
				p.FirstRow != p.RowStart+1 || p.ObjectSize != int64(len(data)) {
				t.Fatalf("piece %d: %+v, want one that starts at row %d", i, p, at)
			}
			at = p.RowEnd
		}
		if at != pf.NumRows() {
			t.Fatalf("the pieces hold %d rows, the file %d", at, pf.NumRows())
		}
		for _, p := range pieces {
			runtime.ReadMemStats(&before)
			c, err := tabular.ReadPiece(t.Context(), memRanges(data), p, func(r tabular.Record) error {
				if !json.Valid(r.JSON) || r.JSON[0] != '{' {
					t.Fatalf("%v: row %d is not a JSON object: %q", p, r.Row, r.JSON)
				}
				return nil
			}, nil)
			runtime.ReadMemStats(&after)
			// Nor does reading: page headers cannot claim more than their
			// column chunk holds (uncompressed: at most 256 MiB a page).
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 300<<20+uint64(len(data))*64 {
				t.Fatalf("reading %v of %d bytes allocated %d MiB", p, len(data), alloc>>20)
			}
			if err != nil {
				if !errors.Is(err, tabular.ErrMalformed) {
					t.Fatalf("read %v: %v, want ErrMalformed", p, err)
				}
				continue
			}
			if c.Good+c.Bad != p.Rows {
				t.Fatalf("read %v: %+v, planned %d rows", p, c, p.Rows)
			}
		}
	})
}
