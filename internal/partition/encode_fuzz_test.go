package partition

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzStagedLines encodes any values as the lines of a staged group and
// reads them back as the workers and the grouping do: a JSON string is
// valid UTF-8 JSON that decodes as encoding/json decodes the same string;
// a CSV record reads back as its fields (a quoted CRLF as LF, encoding/csv's
// rule); a record of a CSV file staged as a JSON object gives its fields
// back by column name; and a group key gives its values back.
func FuzzStagedLines(f *testing.F) {
	for _, s := range [][3]string{
		{"a", "b", "c"}, {"", "", ""}, {"x,y", "say \"hi\"", "line\nbreak\r\nCRLF"}, {"\u2028\u2029", "<>&", "\t\x01\x7f"},
		{"bad\xffname", "\xed\xa0\x80", "\xc3"}, {" lead", "trail ", `\`}, {"é", "日本", "🙂"}, {"same", "same", "null"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, a, b, c string) {
		e := newLineEncoder()
		for _, s := range []string{a, b, c} {
			js := appendJSONString(nil, s)
			if !json.Valid(js) || !utf8.Valid(js) {
				t.Fatalf("appendJSONString(%q) = %s: not valid UTF-8 JSON", s, js)
			}
			var got, want string
			ref, _ := json.Marshal(s)
			if json.Unmarshal(js, &got) != nil || json.Unmarshal(ref, &want) != nil || got != want {
				t.Fatalf("appendJSONString(%q) = %s decodes to %q, encoding/json's %s to %q", s, js, got, ref, want)
			}
		}

		fields := []string{a, b, c}
		line := e.csvLine(fields)
		cr := csv.NewReader(bytes.NewReader(line))
		cr.FieldsPerRecord = -1
		recs, err := cr.ReadAll()
		want := []string{strings.ReplaceAll(a, "\r\n", "\n"), strings.ReplaceAll(b, "\r\n", "\n"), strings.ReplaceAll(c, "\r\n", "\n")}
		if err != nil || len(recs) != 1 || !slices.Equal(recs[0], want) {
			t.Fatalf("csvLine(%q) = %q reads back as %q, %v", fields, line, recs, err)
		}
		if one := e.csvLine([]string{a}); !bytes.HasSuffix(one, []byte("\n")) || len(bytes.TrimSpace(one)) == 0 && a == "" {
			t.Fatalf("csvLine([%q]) = %q: a blank line reads as no record", a, one)
		}

		columns := []string{a, b}
		obj := e.objectLine(columns, []string{b, c})
		if !bytes.HasSuffix(obj, []byte("\n")) || !json.Valid(obj) {
			t.Fatalf("objectLine(%q) = %q: not one JSON object line", columns, obj)
		}
		// Keys are looked up by their JSON text: a column name that is not
		// UTF-8 is U+FFFD in the object (partition_keys are UTF-8: Validate
		// refuses others).
		vals, kinds := make([]string, 2), make([]valueKind, 2)
		if err := jsonValues(obj, []string{jsonText(a), jsonText(b)}, vals, kinds); err != nil {
			t.Fatalf("jsonValues(%q): %v", obj, err)
		}
		wantVals := []string{jsonText(b), jsonText(c)}
		if jsonText(a) == jsonText(b) {
			wantVals[0] = wantVals[1] // one key: the last value wins
		}
		if !slices.Equal(vals, wantVals) || !slices.Equal(kinds, []valueKind{kindString, kindString}) {
			t.Fatalf("jsonValues(%q) = %q (kinds %v), want the strings %q", obj, vals, kinds, wantVals)
		}

		names := []string{"n1", "n2", "n3"}
		key := appendGroupKey(nil, fields)
		if got := groupValues(string(key), names); !slices.Equal(got, fields) {
			t.Fatalf("group key of %q gives %q", fields, got)
		}
	})
}

// jsonText is s as a JSON string decodes: bytes that are not UTF-8 become
// U+FFFD.
func jsonText(s string) string {
	var out string
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, &out)
	return out
}
