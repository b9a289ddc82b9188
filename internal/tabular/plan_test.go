package tabular_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/tabular"
)

// bigRows is the CSV's row count; the JSON Lines and Parquet files have
// fewer rows but are still several MiB, so that every size splits them.
const (
	bigRows   = 200_000
	smallRows = 50_000
)

// sizesFor are the piece sizes every format is planned at: 64KB, 1MB and
// one larger than the object.
func sizesFor(obj objstore.ObjectInfo) []int64 { return []int64{64 << 10, 1 << 20, obj.Size + 1} }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// checkByteTiling checks that byte pieces tile [first, size) and end at the
// expected cuts, and that their number obeys the documented bound.
func checkByteTiling(t *testing.T, pieces []tabular.Piece, first, size, pieceSize int64, cuts []int64) {
	t.Helper()
	if len(pieces) != len(cuts)+1 {
		t.Fatalf("%d pieces, the rule gives %d", len(pieces), len(cuts)+1)
	}
	n := ceilDiv(size, pieceSize)
	if got := int64(len(pieces)); got > n || got < n-1 {
		t.Fatalf("%d pieces for %d bytes at %d: want ceil = %d or one less", got, size, pieceSize, n)
	}
	at := first
	for i, p := range pieces {
		if p.Start != at {
			t.Fatalf("piece %d starts at %d, want %d", i, p.Start, at)
		}
		if i < len(cuts) && p.End != cuts[i] {
			t.Fatalf("piece %d ends at %d, want %d", i, p.End, cuts[i])
		}
		if p.ObjectSize != size {
			t.Fatalf("piece %d: object size %d, want %d", i, p.ObjectSize, size)
		}
		at = p.End
	}
	if at != size {
		t.Fatalf("last piece ends at %d, want %d", at, size)
	}
}

func TestPlanReadCSV(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ends []int64
	obj := b.write("rows.csv", func(w *bufio.Writer) { ends = writeCSV(w, bigRows) })
	want := make([][]string, bigRows)
	for i := range want {
		want[i] = csvRow(i + 1)
		for j := range want[i] { // encoding/csv reads a quoted CRLF as LF
			want[i][j] = strings.ReplaceAll(want[i][j], "\r\n", "\n")
		}
	}
	for _, size := range sizesFor(obj) {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b.r.reset()
			pieces, err := b.plan(obj, tabular.CSV, size)
			if err != nil {
				t.Fatal(err)
			}
			// Planning a CSV reads it once, in one ranged read.
			if got := b.r.bytes.Load(); got != obj.Size || b.r.reads.Load() != 1 {
				t.Errorf("plan read %d bytes in %d reads, want %d in 1", got, b.r.reads.Load(), obj.Size)
			}
			checkByteTiling(t, pieces, ends[0], obj.Size, size, gridCuts(ends[0], ends[1:], obj.Size, size))
			t.Logf("%d bytes at %d: %d pieces", obj.Size, size, len(pieces))

			row := int64(1)
			for i, p := range pieces {
				if !slices.Equal(p.Columns, csvHeader) || p.FirstRow != row {
					t.Fatalf("piece %d: columns %q first row %d, want %q %d", i, p.Columns, p.FirstRow, csvHeader, row)
				}
				row += p.Rows
			}
			good, bad := b.readAll(pieces)
			if len(bad) > 0 {
				t.Fatalf("%d failed rows, first: %v", len(bad), bad[0])
			}
			if len(good) != bigRows {
				t.Fatalf("%d records, want %d", len(good), bigRows)
			}
			for i, r := range good {
				if r.Row != int64(i+1) || !slices.Equal(r.Fields, want[i]) {
					t.Fatalf("record %d: row %d %q, want row %d %q", i, r.Row, r.Fields, i+1, want[i])
				}
			}
		})
	}
}

func TestPlanReadJSONL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var ends []int64
	obj := b.write("rows.jsonl", func(w *bufio.Writer) { ends = writeJSONL(w, smallRows) })
	for _, size := range sizesFor(obj) {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b.r.reset()
			pieces, err := b.plan(obj, tabular.JSONL, size)
			if err != nil {
				t.Fatal(err)
			}
			// One 16 KiB probe per cut plus the head: never the whole file.
			if got, max := b.r.bytes.Load(), int64(len(pieces))*16<<10; got > max {
				t.Errorf("plan read %d bytes, want at most %d", got, max)
			}
			t.Logf("%d bytes at %d: %d pieces, plan read %d bytes in %d reads", obj.Size, size, len(pieces), b.r.bytes.Load(), b.r.reads.Load())
			checkByteTiling(t, pieces, 0, obj.Size, size, gridCuts(0, ends, obj.Size, size))

			good, bad := b.readAll(pieces)
			if len(bad) > 0 {
				t.Fatalf("%d failed rows, first: %v", len(bad), bad[0])
			}
			if len(good) != smallRows {
				t.Fatalf("%d records, want %d", len(good), smallRows)
			}
			for i, r := range good {
				if want := jsonRow(i + 1); string(r.JSON) != want || r.Row != 0 {
					t.Fatalf("record %d: row %d %s, want row 0 %s", i, r.Row, r.JSON, want)
				}
			}
		})
	}
}

// parquetGroups returns the rows and stored bytes of each row group.
func parquetGroups(t *testing.T, path string) (rows, bytes []int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range pf.Metadata().RowGroups {
		rows = append(rows, rg.NumRows)
		bytes = append(bytes, rg.TotalCompressedSize)
	}
	return rows, bytes
}

// parquetRule applies the documented Parquet rule and returns the piece
// boundaries as row ranges.
func parquetRule(rows, bytes []int64, p int64) [][2]int64 {
	var out [][2]int64
	var base, packBytes int64
	pack := [2]int64{-1, -1}
	flush := func() {
		if pack[0] >= 0 {
			out = append(out, pack)
		}
		pack, packBytes = [2]int64{-1, -1}, 0
	}
	for g := range rows {
		lo := base
		base += rows[g]
		if bytes[g] <= p {
			if pack[0] >= 0 && packBytes+bytes[g] > p {
				flush()
			}
			if pack[0] < 0 {
				pack[0] = lo
			}
			pack[1], packBytes = base, packBytes+bytes[g]
			continue
		}
		flush()
		k := min(rows[g], ceilDiv(bytes[g], p))
		for i := range k {
			out = append(out, [2]int64{lo + i*rows[g]/k, lo + (i+1)*rows[g]/k})
		}
	}
	flush()
	return out
}

// pqJSON is the JSON that ReadPiece gives for pqRowAt(i).
func pqJSON(i int) []byte {
	r := pqRowAt(i)
	data, _ := json.Marshal(struct {
		ID    int64   `json:"id"`
		Name  string  `json:"name"`
		Score float64 `json:"score"`
		Note  *string `json:"note"`
	}{r.ID, r.Name, r.Score, r.Note})
	return data
}

func checkParquetRows(t *testing.T, good []tabular.Record, want [][]byte) {
	t.Helper()
	if len(good) != len(want) {
		t.Fatalf("%d records, want %d", len(good), len(want))
	}
	for i, r := range good {
		if r.Row != int64(i+1) || r.Offset != -1 || string(r.JSON) != string(want[i]) {
			t.Fatalf("record %d: row %d %s, want row %d %s", i, r.Row, r.JSON, i+1, want[i])
		}
	}
}

func pqWant(n int) [][]byte {
	want := make([][]byte, n)
	for i := range want {
		want[i] = pqJSON(i + 1)
	}
	return want
}

func TestPlanReadParquetOneRowGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f, err := os.Create(filepath.Join(b.dir, "rows.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	writeParquet(t, f, smallRows, 0)
	f.Close()
	obj := b.stat("rows.parquet")
	rows, bytes := parquetGroups(t, filepath.Join(b.dir, "rows.parquet"))
	if len(rows) != 1 {
		t.Fatalf("%d row groups, want 1", len(rows))
	}
	wantRows := pqWant(smallRows)
	for _, size := range sizesFor(obj) {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			b.r.reset()
			pieces, err := b.plan(obj, tabular.Parquet, size)
			if err != nil {
				t.Fatal(err)
			}
			// The footer only: the magic and one 64 KiB read at the end.
			if got := b.r.bytes.Load(); got > 64<<10+4 || b.r.reads.Load() > 2 {
				t.Errorf("plan read %d bytes in %d reads, want the footer only", got, b.r.reads.Load())
			}
			want := parquetRule(rows, bytes, size)
			if wantN := min(smallRows, ceilDiv(bytes[0], size)); int64(len(want)) != wantN {
				t.Fatalf("rule gives %d pieces, want ceil(%d/%d) = %d", len(want), bytes[0], size, wantN)
			}
			t.Logf("%d bytes (row group %d) at %d: %d pieces, plan read %d bytes", obj.Size, bytes[0], size, len(pieces), b.r.bytes.Load())
			if len(pieces) != len(want) {
				t.Fatalf("%d pieces, want %d", len(pieces), len(want))
			}
			for i, p := range pieces {
				if p.RowStart != want[i][0] || p.RowEnd != want[i][1] || p.FirstRow != p.RowStart+1 || p.Rows != p.RowEnd-p.RowStart {
					t.Fatalf("piece %d: %+v, want rows %v", i, p, want[i])
				}
				if !slices.Equal(p.Columns, []string{"id", "name", "score", "note"}) {
					t.Fatalf("piece %d columns %q", i, p.Columns)
				}
			}
			good, bad := b.readAll(pieces)
			if len(bad) > 0 {
				t.Fatalf("%d failed rows, first: %v", len(bad), bad[0])
			}
			checkParquetRows(t, good, wantRows)
		})
	}
}

func TestPlanReadParquetRowGroups(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const n, perGroup = 10_000, 1000
	f, err := os.Create(filepath.Join(b.dir, "groups.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	writeParquet(t, f, n, perGroup)
	f.Close()
	obj := b.stat("groups.parquet")
	rows, bytes := parquetGroups(t, filepath.Join(b.dir, "groups.parquet"))
	if len(rows) != n/perGroup {
		t.Fatalf("%d row groups, want %d", len(rows), n/perGroup)
	}
	wantRows := pqWant(n)
	// Split each group in three, pack two groups, pack all (file < size).
	for _, size := range []int64{bytes[0]/3 + 1, 2*bytes[0] + bytes[0]/2, obj.Size} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			pieces, err := b.plan(obj, tabular.Parquet, size)
			if err != nil {
				t.Fatal(err)
			}
			want := parquetRule(rows, bytes, size)
			t.Logf("%d row groups of about %d bytes at %d: %d pieces", len(rows), bytes[0], size, len(pieces))
			if len(pieces) != len(want) {
				t.Fatalf("%d pieces, want %d", len(pieces), len(want))
			}
			if size >= obj.Size && len(pieces) != 1 {
				t.Fatalf("a file smaller than the size gave %d pieces", len(pieces))
			}
			for i, p := range pieces {
				if p.RowStart != want[i][0] || p.RowEnd != want[i][1] || p.RowGroup != int(p.RowStart/perGroup) {
					t.Fatalf("piece %d: %+v, want rows %v", i, p, want[i])
				}
			}
			good, bad := b.readAll(pieces)
			if len(bad) > 0 {
				t.Fatalf("%d failed rows, first: %v", len(bad), bad[0])
			}
			checkParquetRows(t, good, wantRows)
		})
	}
}

func TestPieceJSON(t *testing.T) {
	t.Parallel()
	p := tabular.Piece{Key: "a/b.csv", Format: tabular.CSV, ObjectSize: 100, Start: 10, End: 60,
		Columns: []string{"id", "x,y"}, FirstRow: 3, Rows: 4}
	data, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"key":"a/b.csv","format":"csv","object_size":100,"start":10,"end":60,"columns":["id","x,y"],"first_row":3,"rows":4}`
	if string(data) != want {
		t.Fatalf("got %s\nwant %s", data, want)
	}
	var back tabular.Piece
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Columns, p.Columns) || back.Key != p.Key || back.End != p.End || back.Rows != p.Rows {
		t.Fatalf("round trip: %+v", back)
	}
}
