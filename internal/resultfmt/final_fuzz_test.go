package resultfmt

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/parquet-go/parquet-go"
)

var formats = []string{Text, CSV, JSONL, Parquet}

// FuzzBodyFinal renders rows (any JSON array, as a script returns them)
// with any columns in every format, in two batches, and writes the final
// file from their bodies, checking each step against what it reads back:
// Body fails only with ErrBadRow, and only for a row that breaks the
// documented shape; a JSON Lines body holds one object per row with the
// columns as keys (or "result") and the row's values; a text body of a
// DataFrame reads back, space-separated, as the rows' cells; Final copies
// text and JSON Lines unchanged, and writes a CSV or Parquet file that holds
// one row per row with the union of the keys as columns and each value in
// its place.
func FuzzBodyFinal(f *testing.F) {
	for _, s := range []struct{ cols, rows string }{
		{``, `["a.png cat 0.98",{"file":"b.png","label":"dog"},3,null,true,[1,2]]`},
		{`["a","b"]`, `[[1,"x y"],[2.5,null],["say \"hi\"",true],[{"k":[1]},"line\nbreak"]]`},
		{`["a","a"]`, `[[1,2],[null,"z"]]`},
		{`["id"]`, `[[""],[" lead"],["\t"],[1e400],[-0]]`},
		{`[]`, `[[],[]]`},
		{`["x","y"]`, `[[1],[1,2,3],"no"]`},
		{``, `[]`},
		{`["n"]`, `[[9223372036854775807],[9223372036854775808],[1.5]]`},
	} {
		f.Add([]byte(s.cols), []byte(s.rows), uint8(0))
	}
	f.Fuzz(func(t *testing.T, colsData, rowsData []byte, split uint8) {
		var columns []string
		if len(colsData) > 0 && json.Unmarshal(colsData, &columns) != nil {
			return
		}
		var rows []json.RawMessage
		if json.Unmarshal(rowsData, &rows) != nil {
			return
		}
		for i := range rows { // compact, as the worker hands them over
			var b bytes.Buffer
			_ = json.Compact(&b, rows[i])
			rows[i] = b.Bytes()
		}
		cut := 0
		if len(rows) > 0 {
			cut = int(split) % (len(rows) + 1)
		}
		wellFormed := columns == nil || !slices.ContainsFunc(rows, func(r json.RawMessage) bool {
			var vals []json.RawMessage
			return r[0] != '[' || json.Unmarshal(r, &vals) != nil || len(vals) != len(columns)
		})
		for _, format := range formats {
			var all []byte
			for _, batch := range [][]json.RawMessage{rows[:cut], rows[cut:]} {
				body, err := Body(format, columns, batch)
				if err != nil {
					if !errors.Is(err, ErrBadRow) || wellFormed {
						t.Fatalf("Body(%q, %q, %s): %v", format, columns, batch, err)
					}
					return
				}
				checkBody(t, format, columns, batch, body)
				all = append(all, body...)
			}
			if !wellFormed {
				t.Fatalf("Body(%q, %q) took rows that are not arrays of %d values: %s", format, columns, len(columns), rows)
			}
			var out bytes.Buffer
			if err := Final(format, bytes.NewReader(all), &out); err != nil {
				t.Fatalf("Final(%q) of %q: %v", format, all, err)
			}
			checkFinal(t, format, all, out.Bytes())
		}
	})
}

// checkBody checks one batch's body against its rows.
func checkBody(t *testing.T, format string, columns []string, rows []json.RawMessage, body []byte) {
	t.Helper()
	switch {
	case format == Text && columns == nil:
		var want bytes.Buffer
		for _, r := range rows {
			var s string
			if r[0] == '"' && json.Unmarshal(r, &s) == nil {
				want.WriteString(s)
			} else {
				want.Write(r)
			}
			want.WriteByte('\n')
		}
		if !bytes.Equal(body, want.Bytes()) {
			t.Fatalf("text body %q, want %q", body, want.Bytes())
		}
	case format == Text && len(columns) == 0:
		if !bytes.Equal(body, bytes.Repeat([]byte("\n"), len(rows))) { // a DataFrame without columns: an empty line a row
			t.Fatalf("text body %q of %d rows without columns", body, len(rows))
		}
	case format == Text:
		cr := csv.NewReader(bytes.NewReader(body))
		cr.Comma, cr.FieldsPerRecord = ' ', -1
		recs, err := cr.ReadAll()
		if err != nil || len(recs) != len(rows) {
			t.Fatalf("text body %q reads back as %d records of %d rows: %v", body, len(recs), len(rows), err)
		}
		for i, r := range rows {
			var vals []json.RawMessage
			_ = json.Unmarshal(r, &vals)
			want := make([]string, len(vals))
			for j, v := range vals {
				want[j] = cell(v, true)
			}
			if !slices.Equal(recs[i], want) {
				t.Fatalf("text row %d %s reads back as %q, want %q", i, r, recs[i], want)
			}
		}
	default:
		lines := bytes.SplitAfter(body, []byte("\n"))
		if len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if len(lines) != len(rows) {
			t.Fatalf("%s body of %d rows has %d lines: %q", format, len(rows), len(lines), body)
		}
		for i, r := range rows {
			fields, err := parseObject(lines[i], nil)
			if err != nil {
				t.Fatalf("line %q of row %s: %v", lines[i], r, err)
			}
			keys, vals := []string{"result"}, []json.RawMessage{r}
			if columns != nil {
				keys, vals = columns, nil // not into r's bytes
				_ = json.Unmarshal(r, &vals)
			}
			if len(fields) != len(keys) {
				t.Fatalf("line %q of row %s: %d fields for %d keys", lines[i], r, len(fields), len(keys))
			}
			for j, fl := range fields {
				if fl.key != jsonText(keys[j]) || !sameJSON(fl.val, vals[j]) {
					t.Fatalf("line %q of row %s: field %d is %q: %s, want %q: %s", lines[i], r, j, fl.key, fl.val, keys[j], vals[j])
				}
			}
		}
	}
}

// checkFinal checks the final file written from the bodies in.
func checkFinal(t *testing.T, format string, in, out []byte) {
	t.Helper()
	if format == Text || format == JSONL {
		if !bytes.Equal(in, out) {
			t.Fatalf("Final(%q) changed the bodies", format)
		}
		return
	}
	// The rows as the final file must hold them: the union of the keys in
	// first-seen order, the last value of a repeated key.
	var names []string
	var want []map[string]json.RawMessage
	for _, line := range bytes.SplitAfter(in, []byte("\n")) {
		if len(trimJSONSpace(line)) == 0 {
			continue
		}
		fields, err := parseObject(line, nil)
		if err != nil {
			t.Fatalf("body line %q: %v", line, err)
		}
		row := map[string]json.RawMessage{}
		for _, fl := range fields {
			if !slices.Contains(names, fl.key) {
				names = append(names, fl.key)
			}
			row[fl.key] = fl.val
		}
		want = append(want, row)
	}
	if format == CSV {
		if len(names) == 0 {
			if len(out) != 0 {
				t.Fatalf("a CSV file %q for rows without keys", out)
			}
			return
		}
		recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
		if err != nil || len(recs) != len(want)+1 || !slices.Equal(recs[0], names) {
			t.Fatalf("CSV file %q: %d records for %d rows and header %q: %v", out, len(recs), len(want), names, err)
		}
		for i, row := range want {
			for j, n := range names {
				if v, ok := row[n]; recs[i+1][j] != cell(v, false) || !ok && recs[i+1][j] != "" {
					t.Fatalf("CSV row %d, column %q = %q, want the cell of %s", i, n, recs[i+1][j], v)
				}
			}
		}
		return
	}
	pf, err := parquet.OpenFile(bytes.NewReader(out), int64(len(out)))
	if err != nil {
		t.Fatalf("Parquet file: %v", err)
	}
	if len(names) == 0 {
		names = []string{"result"}
	}
	fields := pf.Schema().Fields()
	if pf.NumRows() != int64(len(want)) || len(fields) != len(names) {
		t.Fatalf("Parquet file: %d rows, %d columns; want %d rows and columns %q", pf.NumRows(), len(fields), len(want), names)
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	got := make([]parquet.Row, len(want))
	if n, err := r.ReadRows(got); n != len(want) || (err != nil && err != io.EOF) {
		t.Fatalf("Parquet file: read %d rows of %d: %v", n, len(want), err)
	}
	for j, n := range names {
		if fields[j].Name() != n {
			t.Fatalf("Parquet column %d is %q, want %q", j, fields[j].Name(), n)
		}
		kind := fields[j].Type().Kind()
		for i, row := range want {
			v, pv := row[n], got[i][j]
			if v == nil || string(v) == "null" {
				if !pv.IsNull() {
					t.Fatalf("Parquet row %d, column %q = %v, want null", i, n, pv)
				}
				continue
			}
			ok := false
			switch kind {
			case parquet.Boolean:
				ok = pv.Boolean() == (string(v) == "true")
			case parquet.Int64:
				x, err := strconv.ParseInt(string(v), 10, 64)
				ok = err == nil && pv.Int64() == x
			case parquet.Double:
				x, err := strconv.ParseFloat(string(v), 64)
				ok = err == nil && pv.Double() == x
			case parquet.ByteArray:
				ok = string(pv.ByteArray()) == cell(v, false)
			}
			if !ok {
				t.Fatalf("Parquet row %d, column %q (%v) = %v, want %s", i, n, kind, pv, v)
			}
		}
	}
}

// jsonText is s as a JSON string decodes.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	var out string
	_ = json.Unmarshal(b, &out)
	return out
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	dec := func(x []byte) any {
		d := json.NewDecoder(bytes.NewReader(x))
		d.UseNumber()
		var v any
		_ = d.Decode(&v)
		return v
	}
	return reflect.DeepEqual(dec(a), dec(b))
}

// FuzzFinal writes the final CSV or Parquet file from any bytes as the
// bodies (a damaged batch object): Final fails only with ErrBadLine, or
// writes a file that holds one row per non-blank line.
func FuzzFinal(f *testing.F) {
	for _, s := range []string{
		"{\"a\":1}\n{\"b\":\"x\"}\n", "\n\n{}\n", "{\"a\":1}\n[1]\n", "{\"a\":1", "{\"a\":1}\r\n \t\n{\"a\":null}", "",
		"{\"a\":true}\n{\"a\":1}\n{\"a\":1.5}\n", "{\"\xff\":\"\xfe\"}\n", "\u00a0\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, in []byte, parquetFile bool) {
		format := CSV
		if parquetFile {
			format = Parquet
		}
		var out bytes.Buffer
		err := Final(format, bytes.NewReader(in), &out)
		if err != nil {
			if !errors.Is(err, ErrBadLine) {
				t.Fatalf("Final(%q, %q): %v, want ErrBadLine", format, in, err)
			}
			return
		}
		checkFinal(t, format, in, out.Bytes())
	})
}
