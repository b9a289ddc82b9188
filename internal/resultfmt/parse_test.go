package resultfmt

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

// decoderParse is the reference for parseObject: json.Decoder's tokens,
// with values compacted. ok is false when line is not one JSON object.
func decoderParse(line []byte) (fields []field, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		var b bytes.Buffer
		if json.Compact(&b, raw) != nil {
			return nil, false
		}
		fields = append(fields, field{key: tok.(string), val: b.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, false
	}
	return fields, true
}

var parseSeeds = []string{
	`{}`, ` { } `, `{"a":1}`, "\t{ \"a\" : 1 ,\r\n \"b\":[ 1, {\"c\" : \"}]\\\"\" } ] }\n",
	`{"k\"ey":"v\\","e\u00e9":"\\\"","":null}`, `{"a":1,"a":2}`, `{"n":-1.5e-3,"t":true,"f":false,"z":null}`,
	`{"deep":[[[{"x":[]}]],{}],"s":"[{"}`, `{"a":"b"} x`, `{"a":}`, `[1]`, `"s"`, `{"a":1,}`, `{"a" 1}`,
	"{\"\xfb\":\"\"}", // invalid UTF-8 in a key: decoded as U+FFFD, as encoding/json does
}

func TestParseObject(t *testing.T) {
	t.Parallel()
	for _, s := range parseSeeds {
		checkParse(t, []byte(s))
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParse)
}

func checkParse(t *testing.T, line []byte) {
	want, ok := decoderParse(line)
	got, err := parseObject(line, nil)
	if !ok {
		if err == nil {
			t.Errorf("parseObject(%q) = %q, want an error", line, got)
		}
		return
	}
	if err != nil {
		t.Fatalf("parseObject(%q): %v", line, err)
	}
	for i := range got {
		var b bytes.Buffer
		if err := json.Compact(&b, got[i].val); err != nil {
			t.Fatalf("parseObject(%q): value %q: %v", line, got[i].val, err)
		}
		got[i].val = b.Bytes()
	}
	if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
		t.Errorf("parseObject(%q) =\n%q\nwant\n%q", line, got, want)
	}
}
