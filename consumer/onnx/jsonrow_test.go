package onnx

import (
	"encoding/json"
	"maps"
	"testing"
)

// FuzzJSONFields checks the scanner of JSON rows against encoding/json:
// for every JSON object it gives the same keys and values (the last of a
// repeated key), and for anything else it fails or at least does not
// panic.
func FuzzJSONFields(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a" : 1 , "b":"x"}`,
		`{"p0":0.5,"p1":"0.25","file":"digit-0001.png","n":null,"t":true}`,
		`{"a\"b":1,"c\\d":[1,{"x":"]}"}],"e":{"f":"}\"{"},"g":-1.5e-3}`,
		`{"\u0070\u0030":2,"p0":3}`, "{\n\t\"a\":\r\n[ ]\n}", `{"a":"\\"}`,
		"{\"\xa6\":[]}", `{"a":1,}`, `{"a"}`, `[1,2]`, `{"a":1`, `"x"`, ``, `{"a":"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := map[string]string{}
		err := jsonFields(b, func(key, raw []byte) { got[string(key)] = string(raw) })
		var want map[string]json.RawMessage
		if json.Unmarshal(b, &want) != nil || want == nil {
			return // not an object: any error will do, as long as nothing panics
		}
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		wantS := map[string]string{}
		for k, v := range want {
			wantS[k] = string(v)
		}
		if !maps.Equal(got, wantS) {
			t.Fatalf("%q: fields %q, encoding/json %q", b, got, wantS)
		}
	})
}

func TestJSONText(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{`"0.5"`: "0.5", `"a\"b"`: `a"b`, `1e3`: "1e3", `true`: "true", ` "x" `: "x", `"`: `"`} {
		if got, ok := jsonText([]byte(raw)); !ok || got != want {
			t.Errorf("jsonText(%s) = %q, %v; want %q", raw, got, ok, want)
		}
	}
	for _, raw := range []string{"", "null", " null "} {
		if _, ok := jsonText([]byte(raw)); ok {
			t.Errorf("jsonText(%q) has a value", raw)
		}
	}
}
