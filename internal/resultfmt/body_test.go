package resultfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func raws(rows ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		out[i] = json.RawMessage(r)
	}
	return out
}

// legacyFormatRows is consumer.FormatRows as it was when Text bodies moved
// here; Body(Text, nil, rows) must stay byte-identical to it.
func legacyFormatRows(rows []json.RawMessage) []byte {
	var buf bytes.Buffer
	for _, r := range rows {
		var s string
		if len(r) > 0 && r[0] == '"' && json.Unmarshal(r, &s) == nil {
			buf.WriteString(s)
		} else {
			_ = json.Compact(&buf, r)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, f := range []string{Text, CSV, JSONL, Parquet} {
		if err := Validate(f); err != nil {
			t.Errorf("Validate(%q) = %v", f, err)
		}
	}
	for _, f := range []string{"CSV", "Parquet", "json", "text", "txt", " csv", "csv "} {
		err := Validate(f)
		if !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("Validate(%q) = %v, want ErrUnknownFormat", f, err)
			continue
		}
		for _, want := range []string{`"` + f + `"`, `"csv"`, `"jsonl"`, `"parquet"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Validate(%q) = %q, does not name %s", f, err, want)
			}
		}
	}
}

func TestBodyText(t *testing.T) {
	t.Parallel()
	rows := raws(`"hello world"`, `{"a": 1, "b": [1, 2]}`, `[1, 2]`, `3.5`, `null`, `"line\nbreak"`,
		`true`, `""`, `"caf\u00e9 <b>"`, ` "padded" `, `-0`)
	got, err := Body(Text, nil, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := "hello world\n{\"a\":1,\"b\":[1,2]}\n[1,2]\n3.5\nnull\nline\nbreak\ntrue\n\ncafé <b>\n\"padded\"\n-0\n"
	if string(got) != want {
		t.Errorf("Body(Text) = %q, want %q", got, want)
	}
	if legacy := legacyFormatRows(rows); !bytes.Equal(got, legacy) {
		t.Errorf("Body(Text) = %q, legacy FormatRows = %q", got, legacy)
	}
}

func TestBodyTextDataFrame(t *testing.T) {
	t.Parallel()
	cols := []string{"id", "name", "score", "ok", "tags", "note"}
	rows := raws(
		`[1, "Ada Lovelace", 0.5, true, ["x", "y"], null]`,
		`[2, "say \"hi\"", -3, false, {"k": 1}, "plain"]`,
		`[3, "two\nlines", 1e3, null, [], ""]`,
		`[4, "tab\tinside", 12345678901234567890, true, "a,b", "é"]`,
	)
	got, err := Body(Text, cols, rows)
	if err != nil {
		t.Fatal(err)
	}
	want := `1 "Ada Lovelace" 0.5 True "[""x"",""y""]" ` + "\n" +
		`2 "say ""hi""" -3 False "{""k"":1}" plain` + "\n" +
		`3 "two` + "\n" + `lines" 1e3  [] ` + "\n" +
		"4 tab\tinside 12345678901234567890 True a,b é\n"
	if string(got) != want {
		t.Errorf("Body(Text, columns) =\n%q\nwant\n%q", got, want)
	}

	// A row of one empty field must not become a blank line.
	got, err = Body(Text, []string{"x"}, raws(`[null]`, `["a"]`, `[""]`, `["a b"]`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\"\"\na\n\"\"\n\"a b\"\n"; string(got) != want {
		t.Errorf("Body(Text, one column) = %q, want %q", got, want)
	}
}

func TestBodyObjects(t *testing.T) {
	t.Parallel()
	for _, format := range []string{CSV, JSONL, Parquet} {
		got, err := Body(format, nil, raws(`"x"`, `{"a": [1, 2]}`, `null`, `1.5`))
		if err != nil {
			t.Fatal(err)
		}
		want := `{"result":"x"}` + "\n" + `{"result":{"a":[1,2]}}` + "\n" + `{"result":null}` + "\n" + `{"result":1.5}` + "\n"
		if string(got) != want {
			t.Errorf("Body(%s, nil) = %q, want %q", format, got, want)
		}

		cols := []string{"z", "a", "<b>", `q"k`}
		got, err = Body(format, cols, raws(`[1, "s p", null, {"n": [true, false]}]`, `[2.5,"\u00e9",true,[]]`))
		if err != nil {
			t.Fatal(err)
		}
		want = `{"z":1,"a":"s p","<b>":null,"q\"k":{"n":[true,false]}}` + "\n" +
			`{"z":2.5,"a":"\u00e9","<b>":true,"q\"k":[]}` + "\n"
		if string(got) != want {
			t.Errorf("Body(%s, columns) =\n%s\nwant\n%s", format, got, want)
		}
		for i, line := range strings.Split(strings.TrimSuffix(string(got), "\n"), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("Body(%s) line %d is not valid JSON: %s", format, i+1, line)
			}
		}
	}
}

func TestBodyEmpty(t *testing.T) {
	t.Parallel()
	for _, format := range []string{Text, CSV, JSONL, Parquet} {
		for _, cols := range [][]string{nil, {"a", "b"}} {
			got, err := Body(format, cols, nil)
			if err != nil || len(got) != 0 {
				t.Errorf("Body(%q, %v, nil) = %q, %v; want empty", format, cols, got, err)
			}
		}
	}
}

func TestBodyErrors(t *testing.T) {
	t.Parallel()
	cols := []string{"a", "b"}
	bad := []string{`{"a":1,"b":2}`, `[1]`, `[1,2,3]`, `[1,`, `null`, `"ab"`, ``}
	for _, format := range []string{Text, CSV, JSONL, Parquet} {
		for _, b := range bad {
			_, err := Body(format, cols, raws(`[1,2]`, b))
			if !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), "row 1:") {
				t.Errorf("Body(%q, columns, [ok, %q]) = %v; want ErrBadRow naming row 1", format, b, err)
			}
		}
		_, err := Body(format, nil, raws(`1`, `{"a":`))
		if !errors.Is(err, ErrBadRow) || !strings.Contains(err.Error(), "row 1:") {
			t.Errorf("Body(%q, nil, invalid JSON) = %v; want ErrBadRow naming row 1", format, err)
		}
	}
	if _, err := Body("CSV", nil, raws(`1`)); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("Body(CSV upper case) = %v, want ErrUnknownFormat", err)
	}
}

// TestTextKeepsBytesThatAreNotUTF8: an escape \udcXX in a string row or a
// DataFrame value is written to the text output as the byte it stands for.
func TestTextKeepsBytesThatAreNotUTF8(t *testing.T) {
	got, err := Body(Text, nil, []json.RawMessage{json.RawMessage(`"bad\udcffname.txt"`), json.RawMessage(`"caf\u00e9"`)})
	if err != nil || string(got) != "bad\xffname.txt\ncafé\n" {
		t.Errorf("rows: %q, %v", got, err)
	}
	got, err = Body(Text, []string{"file", "n"}, []json.RawMessage{json.RawMessage(`["bad\udcffname.txt",1]`)})
	if err != nil || string(got) != "bad\xffname.txt 1\n" {
		t.Errorf("DataFrame rows: %q, %v", got, err)
	}
	got, err = Body(JSONL, nil, []json.RawMessage{json.RawMessage(`"bad\udcffname.txt"`)})
	if err != nil || string(got) != `{"result":"bad\udcffname.txt"}`+"\n" {
		t.Errorf("JSON Lines rows: %q, %v", got, err)
	}
}
