package onnx

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// errNotObject is the error of a row that is not one JSON object.
var errNotObject = errors.New("the row is not a JSON object")

// jsonFields calls fn with each top-level key of obj, a JSON object, and
// its value's raw JSON, in order. It scans without decoding the values:
// the runtime hands over rows already checked to be JSON objects, and a
// row that turns out not to be one is errNotObject.
func jsonFields(obj []byte, fn func(key []byte, raw []byte)) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return errNotObject
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	var buf []byte
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errNotObject
		}
		end, escaped := stringEnd(obj, i)
		if end < 0 {
			return errNotObject
		}
		key := obj[i+1 : end-1]
		if escaped || !utf8.Valid(key) { // as encoding/json decodes it
			var s string
			if json.Unmarshal(obj[i:end], &s) != nil {
				return errNotObject
			}
			buf = append(buf[:0], s...)
			key = buf
		}
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return errNotObject
		}
		i = skipSpace(obj, i+1)
		vend := valueEnd(obj, i)
		if vend <= i {
			return errNotObject
		}
		fn(key, obj[i:vend])
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return errNotObject
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return errNotObject
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that opens at b[i] (a
// quote), and whether it holds escapes; -1 when it does not end.
func stringEnd(b []byte, i int) (int, bool) {
	escaped := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped
		}
	}
	return -1, escaped
}

// valueEnd returns the index after the JSON value that starts at b[i], or
// -1 when it does not end.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := stringEnd(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := stringEnd(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// jsonText is a JSON value as text: a string's contents, or another
// value's JSON text; ok is false for a missing value or null.
func jsonText(raw []byte) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	if raw[0] == '"' {
		if s := raw[1:]; len(s) > 0 && s[len(s)-1] == '"' && bytes.IndexByte(s, '\\') < 0 && utf8.Valid(s) {
			return string(s[:len(s)-1]), true
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
	}
	return string(raw), true
}
