package tabular

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/parallelrun/prs/internal/objstore"
)

// Probe windows of JSON Lines planning: the first ranged read after a cut is
// probeMin bytes, doubling up to probeMax while no line break is found.
const (
	probeMin = 16 << 10
	probeMax = 1 << 20
)

// planJSONL cuts after the first line break at or past each grid position,
// found with small ranged reads; the bytes between cuts are not read.
func planJSONL(ctx context.Context, r RangeReader, obj objstore.ObjectInfo, pieceSize int64, fn func(Piece) error) error {
	if obj.Size == 0 {
		return nil
	}
	// The head tells a binary file early, whatever the piece size.
	if _, _, err := probe(ctx, r, obj.Key, 0, min(obj.Size, probeMin), false); err != nil {
		return err
	}
	start := int64(0)
	for cut := nextCut(0, pieceSize); cut < obj.Size; {
		b, err := lineStart(ctx, r, obj.Key, cut, obj.Size)
		if err != nil {
			return err
		}
		if b >= obj.Size {
			break
		}
		if err := fn(Piece{Key: obj.Key, Format: JSONL, ObjectSize: obj.Size, Start: start, End: b}); err != nil {
			return err
		}
		start, cut = b, nextCut(b, pieceSize)
	}
	return fn(Piece{Key: obj.Key, Format: JSONL, ObjectSize: obj.Size, Start: start, End: obj.Size})
}

// lineStart returns the first line start at or after cut: the smallest b >=
// cut that is the object's size or follows a '\n'. It reads from cut-1 in
// windows of growing size.
func lineStart(ctx context.Context, r RangeReader, key string, cut, size int64) (int64, error) {
	pos, w := cut-1, int64(probeMin)
	for pos < size {
		n := min(w, size-pos)
		i, found, err := probe(ctx, r, key, pos, n, true)
		if err != nil {
			return 0, err
		}
		if found {
			return pos + i + 1, nil
		}
		pos += n
		w = min(2*w, probeMax)
	}
	return size, nil
}

// probe reads n bytes at off and returns the index of the first '\n' in
// them when wantNL; it fails on a NUL byte.
func probe(ctx context.Context, r RangeReader, key string, off, n int64, wantNL bool) (int64, bool, error) {
	src, err := openSource(ctx, r, key, off, n)
	if err != nil {
		return 0, false, err
	}
	defer src.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(src, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: %s: short read at byte %d", ErrChanged, key, off)
		}
		return 0, false, err
	}
	if !wantNL {
		return 0, false, nil
	}
	i := bytes.IndexByte(buf, '\n')
	return int64(i), i >= 0, nil
}

func readJSONL(ctx context.Context, r RangeReader, p Piece, fn func(Record) error, bad func(*RowError)) (Counts, error) {
	var c Counts
	src, err := openSource(ctx, r, p.Key, p.Start, p.End-p.Start)
	if err != nil {
		return c, err
	}
	defer src.Close()
	br := bufio.NewReaderSize(src, bufSize)
	pos := p.Start
	var line []byte
	for {
		// Read one line, keeping at most MaxRecordBytes of it.
		line = line[:0]
		consumed, tooLong := int64(0), false
		var err error
		for {
			var chunk []byte
			chunk, err = br.ReadSlice('\n')
			consumed += int64(len(chunk))
			if len(line)+len(chunk) > MaxRecordBytes {
				tooLong = true
			} else {
				line = append(line, chunk...)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if err != nil && err != io.EOF {
			return c, err
		}
		off := pos
		pos += consumed
		text := bytes.TrimSpace(line)
		if consumed == 0 || (!tooLong && len(text) == 0) {
			if err == io.EOF {
				return c, nil
			}
			continue // blank lines are not rows
		}
		rowErr := error(nil)
		if tooLong {
			rowErr = fmt.Errorf("%w: the line is longer than %d bytes", ErrRecordTooLong, MaxRecordBytes)
		} else if rowErr = checkObject(text); rowErr == nil {
			c.Good++
			if err := fn(Record{Offset: off, JSON: bytes.Clone(text)}); err != nil {
				return c, err
			}
		}
		if rowErr != nil {
			c.Bad++
			bad(&RowError{Key: p.Key, Offset: off, Err: rowErr})
		}
		if err == io.EOF {
			return c, nil
		}
	}
}

// checkObject tells whether text is one JSON object.
func checkObject(text []byte) error {
	if !json.Valid(text) {
		var v json.RawMessage
		err := json.Unmarshal(text, &v) // for the message
		return fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if text[0] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrInvalidJSON)
	}
	return nil
}
