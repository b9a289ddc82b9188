package contracts

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Name is a string that may hold bytes that are not UTF-8: a file name on
// Linux is any bytes but '/' and NUL, and a local input's keys are file
// names. encoding/json would write each such byte as U+FFFD, so that the
// name no longer names its file. The JSON form of a Name is a JSON string
// in which each byte that is not part of valid UTF-8 is the escape
// \udc80-\udcff of that byte (0x80-0xFF): what Python's surrogateescape
// error handler makes of it, so that json.loads gives the str that
// os.fsencode turns back into the bytes, and what UnmarshalJSON turns back
// into them too. A Name that is valid UTF-8 has the JSON form encoding/json
// gives a string, byte for byte, so JSON written before Name existed reads
// the same.
type Name string

// MarshalJSON writes n as a JSON string, each byte that is not UTF-8 as
// \udcXX.
func (n Name) MarshalJSON() ([]byte, error) { return AppendName(nil, string(n)), nil }

// UnmarshalJSON reads a JSON string, each lone escape \udc80-\udcff as the
// byte 0x80-0xFF. Any other lone surrogate becomes U+FFFD, as
// encoding/json makes it.
func (n *Name) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s, err := UnquoteName(b)
	if err != nil {
		return err
	}
	*n = Name(s)
	return nil
}

const hexDigits = "0123456789abcdef"

// AppendName appends s to dst as a JSON string, as Name's MarshalJSON
// writes it. Characters are escaped as encoding/json escapes them without
// its HTML escaping, which json.Marshal applies to a marshaler's output
// anyway (and json.Encoder when SetEscapeHTML asks for it).
func AppendName(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1: // a byte that is not UTF-8
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', 'd', 'c', hexDigits[s[i]>>4], hexDigits[s[i]&0xF])
		case c == '\u2028' || c == '\u2029': // escaped by encoding/json too
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// errNotString is UnquoteName's error for anything but a JSON string.
var errNotString = errors.New("contracts: not a JSON string")

// UnquoteName reads a JSON string as Name's UnmarshalJSON does.
func UnquoteName(b []byte) (string, error) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", errNotString
	}
	b = b[1 : len(b)-1]
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\':
			if i+1 >= len(b) {
				return "", errNotString
			}
			if b[i+1] == 'u' {
				var n int
				var err error
				if out, n, err = appendEscapedRune(out, b[i:]); err != nil {
					return "", err
				}
				i += n
				continue
			}
			e, ok := shortEscapes[b[i+1]]
			if !ok {
				return "", errNotString
			}
			out = append(out, e)
			i += 2
		case c < 0x20 || c == '"':
			return "", errNotString
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			out = utf8.AppendRune(out, r) // U+FFFD for a byte that is not UTF-8, as encoding/json
			i += size
		}
	}
	return string(out), nil
}

var shortEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// appendEscapedRune decodes the \uXXXX escape at the start of b (with its
// low surrogate, for a high one) onto out, and says how many bytes it read.
func appendEscapedRune(out, b []byte) ([]byte, int, error) {
	r1, ok := hex4(b)
	if !ok {
		return nil, 0, errNotString
	}
	switch {
	case utf16.IsSurrogate(r1) && r1 < 0xDC00: // high: a pair needs its low half next
		if r2, ok := hex4(b[6:]); ok {
			if r := utf16.DecodeRune(r1, r2); r != utf8.RuneError {
				return utf8.AppendRune(out, r), 12, nil
			}
		}
		return utf8.AppendRune(out, utf8.RuneError), 6, nil
	case r1 >= 0xDC80 && r1 <= 0xDCFF: // a byte that is not UTF-8
		return append(out, byte(r1-0xDC00)), 6, nil
	case utf16.IsSurrogate(r1):
		return utf8.AppendRune(out, utf8.RuneError), 6, nil
	}
	return utf8.AppendRune(out, r1), 6, nil
}

// hex4 reads the escape \uXXXX at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[2:6]), 16, 16)
	return rune(n), err == nil
}

var (
	_ json.Marshaler   = Name("")
	_ json.Unmarshaler = (*Name)(nil)
	_ json.Marshaler   = Item{}
	_ json.Marshaler   = Piece{}
	_ json.Marshaler   = PartitionKeyValue(nil)
)

// MarshalJSON writes the item with its Key as a Name; the JSON of an item
// whose key is UTF-8 is what encoding/json writes for it.
func (it Item) MarshalJSON() ([]byte, error) {
	type plain Item // no methods: no recursion
	return json.Marshal(struct {
		Key Name `json:"key"` // dominates plain's key, and stays first
		plain
	}{Name(it.Key), plain(it)})
}

// UnmarshalJSON reads an item whose Key is a Name.
func (it *Item) UnmarshalJSON(b []byte) error {
	type plain Item
	v := struct {
		Key Name `json:"key"`
		*plain
	}{plain: (*plain)(it)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	it.Key = string(v.Key)
	return nil
}

// MarshalJSON writes the piece with its Key as a Name.
func (p Piece) MarshalJSON() ([]byte, error) {
	type plain Piece
	return json.Marshal(struct {
		Key Name `json:"key"`
		plain
	}{Name(p.Key), plain(p)})
}

// UnmarshalJSON reads a piece whose Key is a Name.
func (p *Piece) UnmarshalJSON(b []byte) error {
	type plain Piece
	v := struct {
		Key Name `json:"key"`
		*plain
	}{plain: (*plain)(p)}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.Key = string(v.Key)
	return nil
}

// PartitionKeyValue maps each partition_keys name to its value for one
// mini-batch (run()'s mini_batch_context.partition_key_value). A value taken
// from a file's path is a Name, and so is its JSON form; keys are sorted,
// as encoding/json sorts a map's.
type PartitionKeyValue map[string]string

// MarshalJSON writes the map's keys and values as Names.
func (p PartitionKeyValue) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	b := []byte{'{'}
	for i, k := range slices.Sorted(maps.Keys(p)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(AppendName(b, k), ':')
		b = AppendName(b, p[k])
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads a map whose values are Names.
func (p *PartitionKeyValue) UnmarshalJSON(b []byte) error {
	var m map[string]Name
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil {
		*p = nil
		return nil
	}
	*p = make(PartitionKeyValue, len(m))
	for k, v := range m {
		(*p)[k] = string(v)
	}
	return nil
}
