package entryscript

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/parallelrun/prs/consumer"
)

// FuzzDecodeResponse decodes any line as a response a script wrote to fd 4
// (a hostile or broken script writes anything there). decode never panics;
// it accepts only a JSON object (PROTOCOL.md: anything else breaks the
// protocol) and answers anything else with a ProtocolError; the failure of
// an accepted response is a ScriptError with a type; and its rows are, one
// for one, the same JSON values in compact, valid UTF-8 form.
func FuzzDecodeResponse(f *testing.F) {
	for _, s := range []string{
		`{"ok":true}`, "{\"ok\":true}\n", ` {"ok":true,"rows":["a.png cat 0.98",{"file":"b.png","label":"dog"},3,null]} `,
		`{"ok":true,"rows":[[1,"x",null],[2.5e3,"y",true]],"columns":["a","b","c"]}`,
		`{"ok":false,"error":{"type":"ZeroDivisionError","message":"division by zero","traceback":"Traceback ...\n"}}`,
		`{"ok":false}`, `{"ok":false,"error":{"message":"no type"}}`, `{"ok":true,"rows":null}`,
		`{"ok":true,"rows":[ { "a" : [ 1 , 2 ] } ,"\u00e9\ud83d\ude00"]}`, `{"ok":"yes"}`, `{"ok":true,"rows":{}}`,
		`{"ok":true,"rows":[1,]}`, `[]`, `"ok"`, `42`, `true`, ``, `{`, "\xff", `{"ok":true} {"ok":false}`,
		`{"ok":true,"ok":false}`, `{"OK":true}`, `{"ok":true,"rows":["\u0000"]}`, `null`, ` [1] `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := (&process{}).decode(line, true)
		if err != nil {
			var se *consumer.ScriptError
			if !errors.As(err, &se) || se.Type != "ProtocolError" || r != nil {
				t.Fatalf("decode(%q) = %v, %v: want a ProtocolError", line, r, err)
			}
			if len(se.Message) > 1000 {
				t.Fatalf("decode(%q): a message of %d bytes", line, len(se.Message))
			}
			return
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(line, &obj) != nil || obj == nil {
			t.Fatalf("decode(%q) accepted what is not a JSON object: %+v", line, r)
		}
		if se := r.scriptError(); se == nil || se.Type == "" {
			t.Fatalf("decode(%q): scriptError() = %v", line, se)
		} else if r.Error != nil && (se.Message != r.Error.Message || se.Traceback != r.Error.Traceback) {
			t.Fatalf("decode(%q): scriptError() = %+v, error %+v", line, se, r.Error)
		}
		rows, err := r.compactRows()
		if err != nil {
			t.Fatalf("decode(%q): compactRows: %v", line, err)
		}
		if len(rows) != len(r.Rows) {
			t.Fatalf("decode(%q): %d rows of %d", line, len(rows), len(r.Rows))
		}
		for i, row := range rows {
			var c bytes.Buffer
			if err := json.Compact(&c, row); err != nil || !bytes.Equal(c.Bytes(), row) {
				t.Fatalf("decode(%q): row %d %q is not compact JSON: %v", line, i, row, err)
			}
			if !utf8.Valid(row) {
				t.Fatalf("decode(%q): row %d %q is not UTF-8", line, i, row)
			}
			if !reflect.DeepEqual(value(t, row), value(t, r.Rows[i])) {
				t.Fatalf("decode(%q): row %d %q is not %q", line, i, row, r.Rows[i])
			}
		}
	})
}

// value decodes one JSON value, numbers as their text.
func value(t *testing.T, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return v
}
