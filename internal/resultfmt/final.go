package resultfmt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/parallelrun/prs/internal/tabular"
)

// Final writes the job's output file to out from in, the bodies of every
// mini-batch concatenated in batch order, read from in's current offset.
// Text and JSONL copy in unchanged, without checking it; CSV and Parquet
// read in twice (seeking back) with memory bounded whatever in's size: CSV
// holds one row and the header, Parquet one row group. Errors wrap
// [ErrUnknownFormat], or [ErrBadLine] with the line's 1-based number, or
// in's and out's own errors.
func Final(format string, in io.ReadSeeker, out io.Writer) error {
	if err := Validate(format); err != nil {
		return err
	}
	switch format {
	case CSV:
		return finalCSV(in, out)
	case Parquet:
		return finalParquet(in, out, defaultLimits)
	}
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("resultfmt: copy the %s output: %w", formatName(format), err)
	}
	return nil
}

func formatName(format string) string {
	if format == Text {
		return "text"
	}
	return format
}

// field is one key of a JSON object line and its value as valid JSON.
type field struct {
	key string
	val json.RawMessage
}

// objectScanner reads the JSON object lines of in one at a time.
type objectScanner struct {
	r      *bufio.Reader
	line   []byte
	n      int // 1-based number of the last line read
	fields []field
}

func newObjectScanner(in io.Reader) *objectScanner {
	return &objectScanner{r: bufio.NewReaderSize(in, 64<<10)}
}

// next reads the next non-blank line into s.fields (valid until the next
// call) and returns the number of bytes it read, blank lines included. It
// returns io.EOF at the end of in.
func (s *objectScanner) next() (int, error) {
	read := 0
	for {
		line, err := s.readLine()
		read += len(line)
		if err != nil {
			return read, err
		}
		s.n++
		if len(trimJSONSpace(line)) == 0 {
			continue
		}
		if s.fields, err = parseObject(line, s.fields[:0]); err != nil {
			return read, fmt.Errorf("%w: line %d: %v", ErrBadLine, s.n, err)
		}
		return read, nil
	}
}

// readLine returns the next line, its '\n' included, or io.EOF when in has
// no bytes left. The slice is valid until the next call.
func (s *objectScanner) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		chunk, err := s.r.ReadSlice('\n')
		s.line = append(s.line, chunk...)
		switch {
		case err == nil:
			return s.line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(s.line) > 0:
			return s.line, nil
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		default:
			return nil, fmt.Errorf("resultfmt: read the batch bodies: %w", err)
		}
	}
}

// parseObject appends the keys and values of the JSON object in line to
// fields, keeping their order. Values are sub-slices of line. The line is
// validated first (json.Valid), so the split below can trust its syntax; it
// is several times faster than json.Decoder's tokens.
func parseObject(line []byte, fields []field) ([]field, error) {
	line = trimJSONSpace(line)
	if !json.Valid(line) {
		var v any
		err := json.Unmarshal(line, &v)
		return nil, fmt.Errorf("not valid JSON (%v): %.40q", err, line)
	}
	if line[0] != '{' {
		return nil, fmt.Errorf("not a JSON object: %.40q", line)
	}
	i := skipJSONSpace(line, 1)
	for line[i] != '}' {
		if line[i] == ',' {
			i = skipJSONSpace(line, i+1)
		}
		end := stringEnd(line, i)
		key := string(line[i+1 : end-1])
		if bytes.IndexByte(line[i:end], '\\') >= 0 || !utf8.Valid(line[i:end]) {
			if err := json.Unmarshal(line[i:end], &key); err != nil {
				return nil, err
			}
		}
		i = skipJSONSpace(line, skipJSONSpace(line, end)+1) // past the ':'
		end = valueEnd(line, i)
		fields = append(fields, field{key: key, val: line[i:end]})
		i = skipJSONSpace(line, end)
	}
	return fields, nil
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

func trimJSONSpace(b []byte) []byte {
	b = b[skipJSONSpace(b, 0):]
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// stringEnd returns the index just past the valid JSON string at b[i].
func stringEnd(b []byte, i int) int {
	for j := i + 1; ; j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index just past the valid JSON value at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isJSONSpace(b[j]) {
		j++
	}
	return j
}

// columnSet is the union of the objects' keys in first-seen order.
type columnSet struct {
	names []string
	index map[string]int
}

func (c *columnSet) add(key string) int {
	if i, ok := c.index[key]; ok {
		return i
	}
	if c.index == nil {
		c.index = make(map[string]int)
	}
	c.index[key] = len(c.names)
	c.names = append(c.names, key)
	return len(c.names) - 1
}

// rewind seeks in back to start and scans it again.
func rewind(in io.ReadSeeker, start int64) (*objectScanner, error) {
	if _, err := in.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("resultfmt: seek back to the first batch body: %w", err)
	}
	return newObjectScanner(in), nil
}

// finalCSV writes a header of the union of keys, then one record per row.
// firstPass reads every object from in's current position and calls each
// with every field and its column's index (columns in first-seen order).
// It returns the columns and where the bodies start, for the second pass.
func firstPass(in io.ReadSeeker, format string, each func(f field, col int)) (columnSet, int64, error) {
	var cols columnSet
	start, err := in.Seek(0, io.SeekCurrent)
	if err != nil {
		return cols, 0, fmt.Errorf("resultfmt: %s: find the start of the batch bodies: %w", format, err)
	}
	s := newObjectScanner(in)
	for {
		if _, err := s.next(); errors.Is(err, io.EOF) {
			return cols, start, nil
		} else if err != nil {
			return cols, 0, err
		}
		for _, f := range s.fields {
			each(f, cols.add(f.key))
		}
	}
}

func finalCSV(in io.ReadSeeker, out io.Writer) error {
	cols, start, err := firstPass(in, CSV, func(field, int) {})
	if err != nil {
		return err
	}
	if len(cols.names) == 0 {
		return nil
	}
	s, err := rewind(in, start)
	if err != nil {
		return err
	}
	w := tabular.NewCSVWriter(out, ',')
	if err := w.Write(cols.names); err != nil {
		return fmt.Errorf("resultfmt: csv: write the header: %w", err)
	}
	rec := make([]string, len(cols.names))
	for {
		if _, err := s.next(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		clear(rec)
		for _, f := range s.fields {
			i, ok := cols.index[f.key]
			if !ok {
				return fmt.Errorf("resultfmt: csv: line %d: key %q appeared after the first pass (was the input changed?)", s.n, f.key)
			}
			rec[i] = cell(f.val, false)
		}
		if err := w.Write(rec); err != nil {
			return fmt.Errorf("resultfmt: csv: write line %d: %w", s.n, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("resultfmt: csv: %w", err)
	}
	return nil
}
