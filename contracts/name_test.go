package contracts

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// validNames are UTF-8 strings with everything encoding/json escapes.
var validNames = []string{
	"", "plain.txt", "dir/sub/f.png", `quote" and back\slash`, "<html> & co", "tab\tnl\nret\rbs\bff\f",
	"\x00\x01\x1f\x7f", "caf\u00e9", "\u2028\u2029", "emoji \U0001F600", "\ufffd", "\uFEFFbom",
}

// TestNameOfUTF8IsEncodingJSONs: a valid name's JSON is what
// encoding/json writes for the string, with and without HTML escaping, so
// messages written before Name existed read the same.
func TestNameOfUTF8IsEncodingJSONs(t *testing.T) {
	for _, s := range validNames {
		want, _ := json.Marshal(s)
		if got, _ := json.Marshal(Name(s)); !bytes.Equal(got, want) {
			t.Errorf("Name(%q): %s, encoding/json %s", s, got, want)
		}
		for _, html := range []bool{true, false} {
			var a, b bytes.Buffer
			ea, eb := json.NewEncoder(&a), json.NewEncoder(&b)
			ea.SetEscapeHTML(html)
			eb.SetEscapeHTML(html)
			_ = ea.Encode(Name(s))
			_ = eb.Encode(s)
			if a.String() != b.String() {
				t.Errorf("Name(%q), EscapeHTML %v: %s, encoding/json %s", s, html, a.String(), b.String())
			}
		}
		var back Name
		if err := json.Unmarshal(want, &back); err != nil || string(back) != s {
			t.Errorf("reading %s: %q, %v", want, back, err)
		}
	}
}

// TestNameKeepsBytesThatAreNotUTF8: each such byte is \udcXX on the wire
// and comes back as itself.
func TestNameKeepsBytesThatAreNotUTF8(t *testing.T) {
	for s, want := range map[string]string{
		"bad\xffname.txt":  `"bad\udcffname.txt"`,
		"\x80":             `"\udc80"`,
		"caf\xe9":          `"caf\udce9"`,          // Latin-1
		"\xed\xb2\x80":     `"\udced\udcb2\udc80"`, // an encoded surrogate is not UTF-8
		"ok\xe2\x82":       `"ok\udce2\udc82"`,     // a cut character
		"\xc0\x80 é\xff\n": `"\udcc0\udc80 é\udcff\n"`,
	} {
		got, err := json.Marshal(Name(s))
		if err != nil || string(got) != want {
			t.Errorf("Name(%q): %s, %v; want %s", s, got, err, want)
		}
		var back Name
		if err := json.Unmarshal(got, &back); err != nil || string(back) != s {
			t.Errorf("reading %s: %q, %v; want %q", got, back, err, s)
		}
	}
	// Other lone surrogates are U+FFFD, as encoding/json reads them; pairs
	// are characters.
	for in, want := range map[string]string{`"\ud800"`: "\ufffd", `"\udbff\udfff"`: "\U0010FFFF", `"\ud800\udc80"`: "\U00010080", `"\udc7f"`: "\ufffd", `"a\u00e9\/"`: "aé/"} {
		var n Name
		if err := json.Unmarshal([]byte(in), &n); err != nil || string(n) != want {
			t.Errorf("reading %s: %q, %v; want %q", in, n, err, want)
		}
	}
}

// FuzzNameRoundTrip: any bytes come back as they were, and a valid name's
// JSON is encoding/json's.
func FuzzNameRoundTrip(f *testing.F) {
	for _, s := range append(validNames, "bad\xffname", "\xed\xa0\x80", "\xf4\x90\x80\x80") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(Name(s))
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("%q: invalid JSON %s", s, b)
		}
		var back Name
		if err := json.Unmarshal(b, &back); err != nil || string(back) != s {
			t.Fatalf("%q: read back %q, %v", s, back, err)
		}
		if utf8.ValidString(s) {
			if want, _ := json.Marshal(s); !bytes.Equal(b, want) {
				t.Fatalf("%q: %s, encoding/json %s", s, b, want)
			}
		}
	})
}

// TestMiniBatchNames: a mini-batch message keeps its keys' and partition
// values' bytes, and an old message (written by encoding/json alone) reads
// the same as before.
func TestMiniBatchNames(t *testing.T) {
	mb := MiniBatch{JobID: "j", Index: 3,
		Items:     []Item{{Key: "ok/a.txt", Size: 1, ETag: "e"}, {Key: "bad\xffname.txt", Size: 2}},
		Piece:     &Piece{Key: "t\xfe.csv", Format: TableCSV, End: 9, Columns: []string{"a"}},
		Partition: PartitionKeyValue{"user": "ann\xe9", "genre": "jazz"},
	}
	b, err := json.Marshal(mb)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"key":"bad\udcffname.txt","size":2}`, `"key":"t\udcfe.csv"`, `"partition":{"genre":"jazz","user":"ann\udce9"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("message %s lacks %s", b, want)
		}
	}
	var back MiniBatch
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, mb) {
		t.Errorf("read back %+v\nwant %+v", back, mb)
	}

	// The same message as encoding/json wrote it before, for UTF-8 names.
	type oldItem struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
		ETag string `json:"etag,omitempty"`
	}
	old, _ := json.Marshal(struct {
		JobID     string            `json:"job_id"`
		Index     int64             `json:"index"`
		Items     []oldItem         `json:"items"`
		Partition map[string]string `json:"partition,omitempty"`
	}{"j", 3, []oldItem{{"a<b>&c.txt", 1, "e"}, {"d.txt", 2, ""}}, map[string]string{"u": "v"}})
	utf := MiniBatch{JobID: "j", Index: 3, Items: []Item{{Key: "a<b>&c.txt", Size: 1, ETag: "e"}, {Key: "d.txt", Size: 2}},
		Partition: PartitionKeyValue{"u": "v"}}
	if now, _ := json.Marshal(utf); !bytes.Equal(now, old) {
		t.Errorf("message of UTF-8 names changed:\n now %s\n was %s", now, old)
	}
	var fromOld MiniBatch
	if err := json.Unmarshal(old, &fromOld); err != nil || !reflect.DeepEqual(fromOld, utf) {
		t.Errorf("old message read as %+v, %v", fromOld, err)
	}
}

// TestNamesAsPythonReadsThem: Python's json.loads gives the str that
// os.fsencode turns into the name's bytes, and the JSON Python writes of
// os.fsdecode(bytes) reads back as those bytes.
func TestNamesAsPythonReadsThem(t *testing.T) {
	names := []string{"bad\xffname.txt", "caf\xe9", "é\xed\xb2\x80", "plain", "\U0001F600 \u2028"}
	var lines []byte
	for _, n := range names {
		lines = append(AppendName(lines, n), '\n')
	}
	const program = `
import json, os, sys
for line in sys.stdin.buffer:
    name = os.fsencode(json.loads(line))
    sys.stdout.write(name.hex() + " " + json.dumps(os.fsdecode(name)) + "\n")
`
	cmd := exec.Command("python3", "-c", program)
	cmd.Stdin = bytes.NewReader(lines)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(got) != len(names) {
		t.Fatalf("python3 wrote %q", out)
	}
	for i, n := range names {
		hexName, dumped, _ := strings.Cut(got[i], " ")
		if want := bytesHex(n); hexName != want {
			t.Errorf("%q: Python read the bytes %s, want %s", n, hexName, want)
		}
		back, err := UnquoteName([]byte(dumped))
		if err != nil || back != n {
			t.Errorf("%q: Python's JSON %s reads back as %q, %v", n, dumped, back, err)
		}
	}
}

func bytesHex(s string) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(digits[s[i]>>4])
		b.WriteByte(digits[s[i]&0xF])
	}
	return b.String()
}
