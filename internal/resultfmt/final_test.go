package resultfmt

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// bigRows is the row count of the tests that check Final streams.
const bigRows = 200_000

// writeBigInput writes the bodies of n DataFrame rows, in batches of 1000
// rendered by Body, to a temporary file and returns it at offset 0.
func writeBigInput(t testing.TB, format string, n int) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "bodies.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cols := []string{"id", "score", "label", "flag"}
	rows := make([]json.RawMessage, 0, 1000)
	for i := 0; i < n; i++ {
		label := `null`
		if i%3 != 0 {
			label = fmt.Sprintf(`"label %d"`, i%7)
		}
		rows = append(rows, json.RawMessage(fmt.Sprintf(`[%d, %d.25, %s, %t]`, i, i, label, i%2 == 0)))
		if len(rows) == cap(rows) || i == n-1 {
			body, err := Body(format, cols, rows)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(body); err != nil {
				t.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return f
}

func final(t *testing.T, format, in string) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := Final(format, strings.NewReader(in), &out); err != nil {
		t.Fatalf("Final(%q): %v", format, err)
	}
	return out.Bytes()
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("read the CSV back: %v\n%s", err, b)
	}
	return recs
}

func TestFinalCopies(t *testing.T) {
	t.Parallel()
	in := "first line\n\n{\"a\":1}\nnot JSON at all\nlast without newline"
	for _, format := range []string{Text, JSONL} {
		if got := final(t, format, in); string(got) != in {
			t.Errorf("Final(%q) = %q, want the input unchanged", format, got)
		}
		// From the reader's current offset.
		r := strings.NewReader("skip\n" + in)
		if _, err := r.Seek(5, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Final(format, r, &out); err != nil || out.String() != in {
			t.Errorf("Final(%q) from offset 5 = %q, %v", format, out.String(), err)
		}
	}
}

func TestFinalCSV(t *testing.T) {
	t.Parallel()
	in := `{"id":1,"name":"a b"}` + "\n" +
		`{"id":2,"extra":true,"name":null}` + "\n" +
		"\n" +
		`{"name":"q\"uote, comma","id":3.5,"nested":{"k":[1, 2]}}` + "\n" +
		`{}` + "\n" +
		`  {"extra":false,"nested":"two` + `\n` + `lines"}  ` // no final newline
	got := readCSV(t, final(t, CSV, in))
	want := [][]string{
		{"id", "name", "extra", "nested"},
		{"1", "a b", "", ""},
		{"2", "", "true", ""},
		{"3.5", `q"uote, comma`, "", `{"k":[1,2]}`},
		{"", "", "", ""},
		{"", "", "false", "two\nlines"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Final(CSV) =\n%q\nwant\n%q", got, want)
	}

	// A single column: a null row must stay a row, not a blank line.
	got = readCSV(t, final(t, CSV, "{\"x\":null}\n{\"x\":\"v\"}\n{}\n"))
	if want := [][]string{{"x"}, {""}, {"v"}, {""}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Final(CSV, one column) = %q, want %q", got, want)
	}

	// Final reads from in's offset, and seeks back there for the second pass.
	r := strings.NewReader("not JSON\n" + `{"a":1}` + "\n")
	if _, err := r.Seek(9, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Final(CSV, r, &out); err != nil || out.String() != "a\n1\n" {
		t.Errorf("Final(CSV) from offset 9 = %q, %v; want \"a\\n1\\n\"", out.String(), err)
	}
}

func TestFinalCSVFromBodies(t *testing.T) {
	t.Parallel()
	var in bytes.Buffer
	for _, batch := range []struct {
		cols []string
		rows []json.RawMessage
	}{
		{[]string{"file", "score"}, raws(`["a.png", 0.5]`, `["b c.png", null]`)},
		{[]string{"file", "label"}, raws(`["d.png", "cat"]`)},
	} {
		body, err := Body(CSV, batch.cols, batch.rows)
		if err != nil {
			t.Fatal(err)
		}
		in.Write(body)
	}
	got := readCSV(t, final(t, CSV, in.String()))
	want := [][]string{{"file", "score", "label"}, {"a.png", "0.5", ""}, {"b c.png", "", ""}, {"d.png", "", "cat"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Final(CSV) = %q, want %q", got, want)
	}
}

func TestFinalCSVLarge(t *testing.T) {
	t.Parallel()
	in := writeBigInput(t, CSV, bigRows)
	out, err := os.Create(filepath.Join(t.TempDir(), "out.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := Final(CSV, in, out); err != nil {
		t.Fatal(err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(out)
	header, err := r.Read()
	if err != nil || !reflect.DeepEqual(header, []string{"id", "score", "label", "flag"}) {
		t.Fatalf("header = %q, %v", header, err)
	}
	n := 0
	for ; ; n++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("record %d: %v", n+1, err)
		}
		if n == bigRows-1 {
			if want := []string{"199999", "199999.25", "label 2", "false"}; !reflect.DeepEqual(rec, want) {
				t.Errorf("last record = %q, want %q", rec, want)
			}
		}
	}
	if n != bigRows {
		t.Errorf("Final(CSV) wrote %d records, want %d", n, bigRows)
	}
}

func TestFinalEmpty(t *testing.T) {
	t.Parallel()
	for _, format := range []string{Text, CSV, JSONL} {
		for _, in := range []string{"", "\n\n"} {
			got := final(t, format, in)
			if format == CSV && len(got) != 0 || format != CSV && string(got) != in {
				t.Errorf("Final(%q, %q) = %q", format, in, got)
			}
		}
	}
	// Objects without keys give no columns, hence an empty CSV.
	if got := final(t, CSV, "{}\n{}\n"); len(got) != 0 {
		t.Errorf("Final(CSV, {} rows) = %q, want empty", got)
	}
}

func TestFinalBadLines(t *testing.T) {
	t.Parallel()
	bad := []string{`[1,2]`, `"str"`, `12`, `null`, `{"a":`, `{"a":1} {"b":2}`, `{"a":1}x`, `{"a" 1}`, `{"a":nan}`}
	for _, format := range []string{CSV, Parquet} {
		for _, b := range bad {
			in := `{"a":1}` + "\n\n" + b + "\n" + `{"a":2}` + "\n"
			err := Final(format, strings.NewReader(in), io.Discard)
			if !errors.Is(err, ErrBadLine) || !strings.Contains(err.Error(), "line 3:") {
				t.Errorf("Final(%q) with line 3 %q = %v; want ErrBadLine naming line 3", format, b, err)
			}
		}
	}
	if err := Final("xml", strings.NewReader(""), io.Discard); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Final(xml) = %v, want ErrUnknownFormat", err)
	}
}

// failingWriter fails every write: a full disk.
type failingWriter struct{}

var errDiskFull = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errDiskFull }

func TestFinalWriteError(t *testing.T) {
	t.Parallel()
	for _, format := range []string{Text, CSV, JSONL, Parquet} {
		err := Final(format, strings.NewReader(`{"a":1}`+"\n"), failingWriter{})
		if !errors.Is(err, errDiskFull) {
			t.Errorf("Final(%q) to a failing writer = %v, want errDiskFull", format, err)
		}
	}
}
