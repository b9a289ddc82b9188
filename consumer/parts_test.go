package consumer

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// readTestTable writes data as name in a folder and reads it as one piece.
func readTestTable(t *testing.T, name string, format contracts.TableFormat, columns []string, start int64, data string) *Table {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := objstore.Open(context.Background(), dir, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := contracts.Piece{Key: name, Format: format, ObjectSize: int64(len(data)), Start: start, End: int64(len(data)), Columns: columns}
	if format == contracts.TableCSV {
		p.FirstRow = 1
	}
	tb, _, _, err := ReadTable(context.Background(), store, p)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// A part of a CSV table is its header and its rows, as they were (quoted
// line breaks, doubled quotes, a lone empty field), numbered from where
// they stand in the mini-batch and named by their rows in the file, a
// malformed row skipped.
func TestCSVTableParts(t *testing.T) {
	t.Parallel()
	header := "id,text\n"
	data := header + "0,plain\n1,\"two\nlines\"\n2,ragged,row\n3,\"say \"\"hi\"\"\"\n4,\n5,last\n"
	tb := readTestTable(t, "d.csv", contracts.TableCSV, []string{"id", "text"}, int64(len(header)), data)
	if tb.Rows != 5 {
		t.Fatalf("%d rows, want 5 well-formed", tb.Rows)
	}
	bp, err := newBatchParts(&Batch{Items: []contracts.Item{{Key: "d.csv"}}, Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lo, hi int
		want   [][]string
		names  []string
	}{
		{0, 5, [][]string{{"id", "text"}, {"0", "plain"}, {"1", "two\nlines"}, {"3", `say "hi"`}, {"4", ""}, {"5", "last"}}, nil},
		{1, 3, [][]string{{"id", "text"}, {"1", "two\nlines"}, {"3", `say "hi"`}}, []string{"d.csv: row 2", "d.csv: row 4"}},
		{4, 5, [][]string{{"id", "text"}, {"5", "last"}}, []string{"d.csv: row 6"}},
	} {
		b := bp.part(tc.lo, tc.hi)
		recs, err := csv.NewReader(bytes.NewReader(b.Table.CSV)).ReadAll()
		if err != nil || !reflect.DeepEqual(recs, tc.want) {
			t.Fatalf("part %d-%d: %q (%v), want %q", tc.lo, tc.hi, recs, err, tc.want)
		}
		if b.Table.Rows != tc.hi-tc.lo || b.Table.FirstIndex != tc.lo || len(b.Items) != 1 {
			t.Fatalf("part %d-%d: %d rows from index %d, %d items", tc.lo, tc.hi, b.Table.Rows, b.Table.FirstIndex, len(b.Items))
		}
		for i, n := range tc.names {
			if got := bp.name(tc.lo + i); got != n {
				t.Fatalf("row %d is named %q, want %q", tc.lo+i, got, n)
			}
		}
	}
	// A part of a part keeps counting from the mini-batch.
	inner, err := newBatchParts(bp.part(2, 5))
	if err != nil {
		t.Fatal(err)
	}
	if b := inner.part(1, 3); b.Table.FirstIndex != 3 || !strings.HasSuffix(string(b.Table.CSV), "4,\n5,last\n") || inner.name(1) != "d.csv: row 5" {
		t.Fatalf("inner part from %d: %q, %q", b.Table.FirstIndex, b.Table.CSV, inner.name(1))
	}
}

// A part of a JSON Lines table holds its records; rows are named by their
// byte offsets. A part of files holds their items and paths.
func TestRecordAndFileParts(t *testing.T) {
	t.Parallel()
	data := "{\"id\":0}\n{\"id\":1}\nnot json\n{\"id\":3}\n"
	tb := readTestTable(t, "d.jsonl", contracts.TableJSONL, nil, 0, data)
	bp, err := newBatchParts(&Batch{Items: []contracts.Item{{Key: "d.jsonl"}}, Table: tb})
	if err != nil {
		t.Fatal(err)
	}
	b := bp.part(1, 3)
	if len(b.Table.Records) != 2 || string(b.Table.Records[1]) != `{"id":3}` || b.Table.FirstIndex != 1 || bp.name(2) != "d.jsonl: line at byte 27" {
		t.Fatalf("records %q from %d, name %q", b.Table.Records, b.Table.FirstIndex, bp.name(2))
	}

	files := &Batch{Items: []contracts.Item{{Key: "a"}, {Key: "b"}, {Key: "c"}}, Paths: []string{"/a", "/b", "/c"}}
	fp, err := newBatchParts(files)
	if err != nil {
		t.Fatal(err)
	}
	if b := fp.part(1, 3); !reflect.DeepEqual(b.Paths, []string{"/b", "/c"}) || b.Items[0].Key != "b" || fp.name(2) != "c" || fp.n() != 3 {
		t.Fatalf("part %+v", b)
	}
}
