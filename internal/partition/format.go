package partition

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// PathFormat is a parsed partition_format: literal text and named
// placeholders that take a file dataset's keys apart. It is immutable and
// safe for concurrent use.
type PathFormat struct {
	raw   string
	names []string
	re    *regexp.Regexp // ^literal([^/]+)literal...$, one group per name
}

// ParseFormat parses a partition_format such as
// "/{user}/{genre}/{filename}.wav". The leading '/' is optional: keys are
// relative to the input root. Errors wrap [ErrBadFormat] and quote s: empty,
// unbalanced or nested braces, an empty name or one with characters other
// than letters, digits and '_', a name used twice, two placeholders with
// nothing between them ("{a}{b}", which no key could split), invalid UTF-8,
// more than [MaxFormatBytes].
func ParseFormat(s string) (*PathFormat, error) {
	bad := func(why string, args ...any) (*PathFormat, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrBadFormat, s, fmt.Sprintf(why, args...))
	}
	if !utf8.ValidString(s) {
		return bad("not valid UTF-8")
	}
	if len(s) > MaxFormatBytes {
		return bad("longer than %d bytes", MaxFormatBytes)
	}
	body := strings.TrimPrefix(s, "/")
	if body == "" {
		return bad("empty")
	}
	skip := len(s) - len(body) // byte positions in messages count from the start of s
	var (
		re      strings.Builder
		names   []string
		literal strings.Builder
		open    = -1   // byte index of the '{' being read, or -1
		last    = true // the previous part is a placeholder (or nothing yet)
	)
	re.WriteString("^")
	for i, c := range body {
		switch {
		case c == '{' && open >= 0:
			return bad("nested '{' at byte %d inside the placeholder opened at byte %d", skip+i, skip+open)
		case c == '{':
			if literal.Len() > 0 {
				re.WriteString(regexp.QuoteMeta(literal.String()))
				literal.Reset()
				last = false
			}
			open = i
		case c == '}' && open < 0:
			return bad("'}' at byte %d closes no placeholder", skip+i)
		case c == '}':
			name := body[open+1 : i]
			if err := checkName(name); err != nil {
				return bad("placeholder at byte %d: %v", skip+open, err)
			}
			if slices.Contains(names, name) {
				return bad("placeholder {%s} appears twice", name)
			}
			if last && len(names) > 0 {
				return bad("placeholders {%s} and {%s} have nothing between them", names[len(names)-1], name)
			}
			names = append(names, name)
			re.WriteString("([^/]+)")
			open, last = -1, true
		case open < 0:
			literal.WriteRune(c)
		}
	}
	if open >= 0 {
		return bad("the placeholder opened at byte %d is not closed", skip+open)
	}
	re.WriteString(regexp.QuoteMeta(literal.String()))
	re.WriteString("$")
	compiled, err := regexp.Compile(re.String())
	if err != nil { // not expected within MaxFormatBytes, but never a panic
		return bad("%v", err)
	}
	return &PathFormat{raw: s, names: names, re: compiled}, nil
}

// MaxFormatBytes bounds a partition_format: a path pattern, far shorter
// than this, that becomes a regular expression (which has a size limit).
const MaxFormatBytes = 4096

// checkName accepts placeholder names: one or more letters, digits and '_'.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for _, c := range name {
		if c != '_' && !unicode.IsLetter(c) && !unicode.IsDigit(c) {
			return fmt.Errorf("name %q holds %q (want letters, digits and '_')", name, c)
		}
	}
	return nil
}

// String returns the format as it was given to [ParseFormat].
func (f *PathFormat) String() string { return f.raw }

// Names returns the placeholder names in the order in which they appear.
func (f *PathFormat) Names() []string { return slices.Clone(f.names) }

// Match takes key apart: it returns each placeholder's value and true when
// the whole key matches the format, and nil and false otherwise. A
// placeholder matches one or more characters other than '/', literal text
// matches exactly (case included). Keys are relative to the input root; one
// leading '/' is ignored. Where a key can be split in several ways, earlier
// placeholders take the longest match.
func (f *PathFormat) Match(key string) (map[string]string, bool) {
	m := f.re.FindStringSubmatch(strings.TrimPrefix(key, "/"))
	if m == nil {
		return nil, false
	}
	values := make(map[string]string, len(f.names))
	for i, name := range f.names {
		values[name] = m[i+1]
	}
	return values, true
}

// CheckKeys verifies partition_keys against the format: there is at least
// one key, none is repeated, and each is a placeholder name. A key that is
// not gives an error wrapping [ErrMissingColumn] that names it and the names
// available; an empty or repeated list wraps [ErrInvalidConfig].
func (f *PathFormat) CheckKeys(keys []string) error {
	if err := checkKeys(keys); err != nil {
		return err
	}
	for _, k := range keys {
		if !slices.Contains(f.names, k) {
			return fmt.Errorf("%w: partition key %q is not a placeholder of partition_format %q (placeholders: %s)",
				ErrMissingColumn, k, f.raw, quoteList(f.names))
		}
	}
	return nil
}

// checkKeys rejects an empty list of partition keys, an empty key and a
// repeated one.
func checkKeys(keys []string) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: partition_keys: none given", ErrInvalidConfig)
	}
	for i, k := range keys {
		if k == "" {
			return fmt.Errorf("%w: partition_keys[%d] is empty", ErrInvalidConfig, i)
		}
		if slices.Contains(keys[:i], k) {
			return fmt.Errorf("%w: partition_keys: %q appears twice", ErrInvalidConfig, k)
		}
	}
	return nil
}

// quoteList writes names as "a", "b", "c", or "none".
func quoteList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
