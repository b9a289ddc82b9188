package tabular_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/tabular"
)

// put writes key with the given content.
func (b *bundle) put(key, content string) {
	b.t.Helper()
	if err := os.WriteFile(filepath.Join(b.dir, key), []byte(content), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func TestCSVRaggedAndMalformedRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	badRows := map[int]string{
		10:  "10,one too many,x,1.0,EXTRA",
		500: "500,one too few",
		777: `777,bare "quote,x,1.0`,
		901: `901,"closed" then text,x,1.0`,
	}
	obj := b.write("ragged.csv", func(w *bufio.Writer) {
		cw := csv.NewWriter(w)
		cw.Write(csvHeader)
		for i := 1; i <= 1000; i++ {
			if line, ok := badRows[i]; ok {
				cw.Flush()
				w.WriteString(line + "\n")
				continue
			}
			cw.Write(csvRow(i))
		}
		cw.Flush()
	})
	for _, size := range []int64{1, 1 << 10, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			pieces, err := b.plan(obj, tabular.CSV, size)
			if err != nil {
				t.Fatal(err)
			}
			good, bad := b.readAll(pieces)
			if len(good) != 996 || len(bad) != 4 {
				t.Fatalf("%d good, %d failed rows, want 996 and 4", len(good), len(bad))
			}
			var rows []int64
			for _, e := range bad {
				rows = append(rows, e.Row)
				if e.Key != "ragged.csv" || e.Offset <= 0 || !strings.Contains(e.Error(), fmt.Sprintf("ragged.csv: row %d (byte ", e.Row)) {
					t.Errorf("failed row: %v", e)
				}
			}
			if !slices.Equal(rows, []int64{10, 500, 777, 901}) {
				t.Fatalf("failed rows %v, want [10 500 777 901]", rows)
			}
			for i, want := range []error{tabular.ErrRaggedRow, tabular.ErrRaggedRow, csv.ErrBareQuote, csv.ErrQuote} {
				if !errors.Is(bad[i], want) {
					t.Errorf("row %d: %v, want %v", bad[i].Row, bad[i], want)
				}
			}
			t.Logf("%v", bad[0])
			for _, r := range good {
				if r.Fields[0] != fmt.Sprint(r.Row) {
					t.Fatalf("row %d holds id %s", r.Row, r.Fields[0])
				}
			}
		})
	}
}

func TestBinaryFiles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 300<<10)
	for i := range data {
		data[i] = byte(rng.IntN(256))
	}
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + string(data)
	for _, key := range []string{"image.csv", "image.jsonl"} {
		b.put(key, png)
		format, err := tabular.DetectFormat(key, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.plan(b.stat(key), format, 64<<10)
		if !errors.Is(err, tabular.ErrBinary) || !strings.Contains(err.Error(), key) {
			t.Errorf("plan %s: %v, want ErrBinary naming the key", key, err)
		}
		// A piece that somehow points at binary data fails too.
		p := tabular.Piece{Key: key, Format: format, ObjectSize: int64(len(png)), Start: 0, End: int64(len(png)), Columns: []string{"a"}}
		_, err = tabular.ReadPiece(b.ctx, b.r, p, func(tabular.Record) error { return nil }, nil)
		if !errors.Is(err, tabular.ErrBinary) {
			t.Errorf("read %s: %v, want ErrBinary", key, err)
		}
	}
	// A NUL far into a CSV is found by the planning scan.
	b.put("late.csv", "a,b\n"+strings.Repeat("1,2\n", 100_000)+"3,\x00\n")
	if _, err := b.plan(b.stat("late.csv"), tabular.CSV, 1<<20); !errors.Is(err, tabular.ErrBinary) ||
		!strings.Contains(err.Error(), fmt.Sprintf("offset %d", 4+400_000+2)) {
		t.Errorf("late NUL: %v", err)
	}
}

func TestTruncatedParquet(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := filepath.Join(b.dir, "full.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	writeParquet(t, f, 5000, 1000)
	f.Close()
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"half.parquet":     string(full[:len(full)/2]),
		"lastbyte.parquet": string(full[:len(full)-1]),
		"tiny.parquet":     "PAR",
		"empty.parquet":    "",
		"csv.parquet":      "a,b\n1,2\n",
		// The footer claims column chunks beyond the end of the file.
		"middle.parquet": string(full[:4]) + string(full[len(full)/2:]),
	}
	for key, content := range cases {
		b.put(key, content)
		_, err := b.plan(b.stat(key), tabular.Parquet, 1<<20)
		if !errors.Is(err, tabular.ErrMalformed) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want ErrMalformed naming the key", key, err)
		} else {
			t.Logf("%s: %v", key, err)
		}
	}
}

func TestUnterminatedQuote(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// An open quote that would swallow the rest of the file fails the plan.
	b.put("open.csv", "id,text\n1,ok\n2,\"never closed\n3,x\n4,y\n")
	_, err := b.plan(b.stat("open.csv"), tabular.CSV, 1<<20)
	if !errors.Is(err, tabular.ErrMalformed) || !strings.Contains(err.Error(), "open.csv: row 2") {
		t.Errorf("plan: %v, want ErrMalformed at row 2", err)
	}
	t.Log(err)
	// On the last line it swallows nothing: one failed row.
	b.put("last.csv", "id,text\n1,ok\n2,\"never closed")
	pieces, err := b.plan(b.stat("last.csv"), tabular.CSV, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := b.readAll(pieces)
	if len(good) != 1 || len(bad) != 1 || bad[0].Row != 2 || !errors.Is(bad[0], csv.ErrQuote) {
		t.Fatalf("%d good, failed %v", len(good), bad)
	}
}

func TestCSVEdgeCases(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		name, content string
		pieces        int
		rows          int
	}{
		{"empty", "", 0, 0},
		{"blank", "\n\n", 0, 0},
		{"header only", "a,b\n", 0, 0},
		{"header without newline", "a,b", 0, 0},
		{"no final newline", "a,b\n1,2\n3,4", 1, 2},
		{"crlf and blank lines", "a,b\r\n1,2\r\n\r\n3,4\r\n\r\n", 1, 2},
		{"bom", "\ufeffa,b\n1,2\n", 1, 1},
	} {
		key := strings.ReplaceAll(tc.name, " ", "-") + ".csv"
		b.put(key, tc.content)
		pieces, err := b.plan(b.stat(key), tabular.CSV, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		good, bad := b.readAll(pieces)
		if len(pieces) != tc.pieces || len(good) != tc.rows || len(bad) != 0 {
			t.Errorf("%s: %d pieces, %d good, %d failed; want %d, %d, 0", tc.name, len(pieces), len(good), len(bad), tc.pieces, tc.rows)
		}
		if len(pieces) > 0 && !slices.Equal(pieces[0].Columns, []string{"a", "b"}) {
			t.Errorf("%s: columns %q", tc.name, pieces[0].Columns)
		}
	}
}

func TestOnePiecePerRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Piece size 1: every record is its own piece, line breaks in quotes too.
	obj := b.write("tiny.csv", func(w *bufio.Writer) { writeCSV(w, 50) })
	pieces, err := b.plan(obj, tabular.CSV, 1)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := b.readAll(pieces)
	if len(pieces) != 50 || len(good) != 50 || len(bad) != 0 {
		t.Fatalf("%d pieces, %d good, %d failed; want 50, 50, 0", len(pieces), len(good), len(bad))
	}
	for i, p := range pieces {
		if p.Rows != 1 || p.FirstRow != int64(i+1) || good[i].Fields[0] != fmt.Sprint(i+1) {
			t.Fatalf("piece %d: %+v record %q", i, p, good[i].Fields)
		}
	}
}

func TestJSONLBadLines(t *testing.T) {
	t.Parallel()
	b := setup(t)
	long := `{"x":"` + strings.Repeat("y", tabular.MaxRecordBytes) + `"}`
	lines := []string{`{"id":1}`, `not json`, `[1,2]`, `{"id":4} trailing`, "  ", long, `{"id":7}`, `{"id":8`, `{"id":9}`}
	content := strings.Join(lines, "\n") + "\n"
	b.put("bad.jsonl", content)
	pieces, err := b.plan(b.stat("bad.jsonl"), tabular.JSONL, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	good, bad := b.readAll(pieces)
	var ids []string
	for _, r := range good {
		ids = append(ids, string(r.JSON))
	}
	if !slices.Equal(ids, []string{`{"id":1}`, `{"id":7}`, `{"id":9}`}) {
		t.Errorf("good rows %q", ids)
	}
	offset := func(line int) int64 { return int64(len(strings.Join(lines[:line], "\n")) + 1) }
	var got []int64
	for _, e := range bad {
		got = append(got, e.Offset)
	}
	want := []int64{offset(1), offset(2), offset(3), offset(5), offset(7)}
	if !slices.Equal(got, want) {
		t.Fatalf("failed rows at %v, want %v (%v)", got, want, bad)
	}
	if !errors.Is(bad[3], tabular.ErrRecordTooLong) || !errors.Is(bad[0], tabular.ErrInvalidJSON) {
		t.Errorf("errors: %v", bad)
	}
	t.Logf("%v", bad[0])
}

func TestCSVRecordTooLong(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Just over the limit, and far over it (the stream stops early).
	for _, n := range []int{tabular.MaxRecordBytes/2 + 1, tabular.MaxRecordBytes} {
		b.put("long.csv", "a,b\n1,2\n3,\""+strings.Repeat("x\n", n)+"\"\n4,5\n")
		_, err := b.plan(b.stat("long.csv"), tabular.CSV, 1<<20)
		if !errors.Is(err, tabular.ErrRecordTooLong) || !strings.Contains(err.Error(), "long.csv: row 2 (byte 8)") {
			t.Fatalf("plan: %v, want ErrRecordTooLong at row 2", err)
		}
		t.Log(err)
	}
	// At the limit it passes.
	b.put("limit.csv", "a,b\n1,\""+strings.Repeat("x", tabular.MaxRecordBytes-5)+"\"\n")
	pieces, err := b.plan(b.stat("limit.csv"), tabular.CSV, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if good, _ := b.readAll(pieces); len(good) != 1 {
		t.Fatalf("%d records", len(good))
	}
}

func TestChangedSincePlanned(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, format := range []tabular.Format{tabular.CSV, tabular.JSONL} {
		key := "changing." + string(format)
		obj := b.write(key, func(w *bufio.Writer) {
			if format == tabular.CSV {
				writeCSV(w, 5000)
			} else {
				writeJSONL(w, 5000)
			}
		})
		pieces, err := b.plan(obj, format, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(filepath.Join(b.dir, key), obj.Size-10); err != nil {
			t.Fatal(err)
		}
		last := pieces[len(pieces)-1]
		_, err = tabular.ReadPiece(b.ctx, b.r, last, func(tabular.Record) error { return nil }, nil)
		if !errors.Is(err, tabular.ErrChanged) {
			t.Errorf("%s: %v, want ErrChanged", key, err)
		}
	}
}

func TestCancelled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	obj := b.write("rows.csv", func(w *bufio.Writer) { writeCSV(w, 1000) })
	ctx, cancel := context.WithCancel(b.ctx)
	cancel()
	err := tabular.Plan(ctx, b.r, obj, tabular.CSV, 1<<10, func(tabular.Piece) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("plan: %v, want context.Canceled", err)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	obj := b.write("rows.csv", func(w *bufio.Writer) { writeCSV(w, 1000) })
	stop := errors.New("stop")
	n := 0
	err := tabular.Plan(b.ctx, b.r, obj, tabular.CSV, 1<<10, func(tabular.Piece) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Fatalf("plan: %v after %d pieces, want stop after 1", err, n)
	}
}
