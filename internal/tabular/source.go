package tabular

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// MaxRecordBytes bounds one CSV record or JSON Lines line, so that planning
// and reading hold at most a few times this much whatever the input (a
// binary file without line breaks, a quote that is never closed).
const MaxRecordBytes = 8 << 20

// bufSize is the read buffer of the text formats.
const bufSize = 64 << 10

// source streams the bytes [base, base+want) of one object with the checks
// that every text read needs: ctx, NUL bytes ([ErrBinary]), an object that
// ends early ([ErrChanged]) and, once mark is set, the length of the record
// being read ([ErrRecordTooLong]).
type source struct {
	ctx  context.Context
	rc   io.ReadCloser
	key  string
	base int64 // object offset of the first byte
	want int64 // bytes expected
	pos  int64 // bytes delivered so far
	// mark is the position (relative to base) of the last record boundary
	// the reader reported; more than MaxRecordBytes (plus a read buffer)
	// delivered past it fails the read. -1: no limit.
	mark int64
}

func openSource(ctx context.Context, r RangeReader, key string, off, n int64) (*source, error) {
	if n == 0 { // an empty range is not worth a request (S3 refuses it)
		return &source{ctx: ctx, rc: io.NopCloser(bytes.NewReader(nil)), key: key, base: off, mark: -1}, nil
	}
	rc, err := r.ReadRange(ctx, key, off, n)
	if err != nil {
		return nil, fmt.Errorf("tabular: read %s bytes %d-%d: %w", key, off, off+n, err)
	}
	return &source{ctx: ctx, rc: rc, key: key, base: off, want: n, mark: -1}, nil
}

func (s *source) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	if s.mark >= 0 && s.pos-s.mark > MaxRecordBytes+bufSize {
		return 0, fmt.Errorf("%w: %s: the record at byte %d is longer than %d bytes", ErrRecordTooLong, s.key, s.base+s.mark, MaxRecordBytes)
	}
	if rest := s.want - s.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	if len(p) == 0 {
		return 0, io.EOF
	}
	n, err := s.rc.Read(p)
	if i := bytes.IndexByte(p[:n], 0); i >= 0 {
		return 0, fmt.Errorf("%w: %s: NUL byte at offset %d: not a text file", ErrBinary, s.key, s.base+s.pos+int64(i))
	}
	s.pos += int64(n)
	if err == io.EOF && s.pos < s.want {
		return n, fmt.Errorf("%w: %s: ends at byte %d, expected %d", ErrChanged, s.key, s.base+s.pos, s.base+s.want)
	}
	if err != nil && err != io.EOF {
		return n, fmt.Errorf("tabular: read %s at byte %d: %w", s.key, s.base+s.pos, err)
	}
	return n, err
}

func (s *source) Close() error { return s.rc.Close() }
