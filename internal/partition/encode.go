package partition

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/parallelrun/prs/internal/tabular"
)

// lineEncoder turns records into the lines of the staged format. The
// returned slices are valid until the next call.
type lineEncoder struct {
	buf bytes.Buffer
	cw  *tabular.CSVWriter // writes into buf
}

func newLineEncoder() *lineEncoder {
	e := &lineEncoder{}
	e.cw = tabular.NewCSVWriter(&e.buf, ',')
	return e
}

// csvLine encodes fields as one CSV record (tabular.CSVWriter: a record of
// one empty field is `""`), ending with "\n".
func (e *lineEncoder) csvLine(fields []string) []byte {
	e.buf.Reset()
	_ = e.cw.Write(fields) // a bytes.Buffer does not fail
	_ = e.cw.Flush()
	return e.buf.Bytes()
}

// objectLine encodes a CSV record as a JSON object of strings, keys in
// header order, ending with "\n".
func (e *lineEncoder) objectLine(columns, fields []string) []byte {
	e.buf.Reset()
	b := e.buf.AvailableBuffer()
	b = append(b, '{')
	for i, c := range columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, c)
		b = append(b, ':')
		b = appendJSONString(b, fields[i])
	}
	b = append(b, '}', '\n')
	e.buf.Write(b)
	return e.buf.Bytes()
}

// jsonLine returns a JSON row (a JSON Lines line or a Parquet row) followed
// by "\n".
func (e *lineEncoder) jsonLine(row []byte) []byte {
	e.buf.Reset()
	e.buf.Write(row)
	e.buf.WriteByte('\n')
	return e.buf.Bytes()
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 bytes become
// U+FFFD, as encoding/json does; '<', '>' and '&' are kept as they are.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029': // valid JSON, but not JavaScript
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// jsonValues sets vals[i] to the value of keys[i] in the JSON object row: a
// string's text, another value's JSON text, "" for null or a missing key;
// kinds[i] says which.
func jsonValues(row []byte, keys []string, vals []string, kinds []valueKind) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(row, &m); err != nil {
		return fmt.Errorf("not a JSON object: %v", err)
	}
	for i, k := range keys {
		raw, ok := m[k]
		switch {
		case !ok || string(raw) == "null":
			vals[i], kinds[i] = "", kindNull
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return fmt.Errorf("key %q: %v", k, err)
			}
			vals[i], kinds[i] = s, kindString
		default:
			vals[i], kinds[i] = string(raw), kindJSON
		}
	}
	return nil
}

// appendGroupKey appends the map key of a group: each value's length as a
// uvarint, then its bytes, so that different value lists never collide.
func appendGroupKey(b []byte, vals []string) []byte {
	for _, v := range vals {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// groupValues decodes a group key made by appendGroupKey into each
// partition key's value, in the order of names.
func groupValues(key string, names []string) []string {
	values := make([]string, len(names))
	b := []byte(key)
	for i := range names {
		n, w := binary.Uvarint(b)
		values[i] = string(b[w : w+int(n)])
		b = b[w+int(n):]
	}
	return values
}
