package tabular

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/parallelrun/prs/internal/objstore"
)

// newCSVReader is the one CSV parser of the package: Plan finds record
// boundaries with it and ReadPiece reads pieces with it, so that both agree
// on where every record starts and ends, malformed ones included.
func newCSVReader(src *source) *csv.Reader {
	cr := csv.NewReader(bufio.NewReaderSize(src, bufSize))
	cr.FieldsPerRecord = -1 // ragged rows are reported per row, not by the parser
	return cr
}

// planCSV streams the whole object once through the CSV parser and cuts
// after the first record that ends at or past each grid position.
func planCSV(ctx context.Context, r RangeReader, obj objstore.ObjectInfo, pieceSize int64, fn func(Piece) error) error {
	if obj.Size == 0 {
		return nil
	}
	src, err := openSource(ctx, r, obj.Key, 0, obj.Size)
	if err != nil {
		return err
	}
	defer src.Close()
	cr := newCSVReader(src)
	cr.ReuseRecord = true
	src.mark = 0

	header, err := cr.Read()
	if err == io.EOF {
		return nil // blank: no header, no records
	}
	if pe := (*csv.ParseError)(nil); errors.As(err, &pe) {
		return fmt.Errorf("%w: %s: header row: %v", ErrMalformed, obj.Key, pe)
	}
	if err != nil {
		return err
	}
	columns := slices.Clone(header)
	columns[0] = strings.TrimPrefix(columns[0], "\ufeff")

	start := cr.InputOffset()
	src.mark = start
	cut := nextCut(start, pieceSize)
	var (
		pending *Piece
		row     int64 // data records read so far
		first   int64 = 1
	)
	push := func(p Piece) error {
		if pending != nil {
			if err := fn(*pending); err != nil {
				return err
			}
		}
		pending = &p
		return nil
	}
	piece := func(end int64) Piece {
		return Piece{Key: obj.Key, Format: CSV, ObjectSize: obj.Size, Start: start, End: end,
			Columns: columns, FirstRow: first, Rows: row - first + 1}
	}
	for {
		before := cr.InputOffset()
		_, err := cr.Read()
		if err == io.EOF {
			break
		}
		pe := (*csv.ParseError)(nil)
		if errors.Is(err, ErrRecordTooLong) {
			return fmt.Errorf("%w: %s: row %d (byte %d) has more than %d bytes", ErrRecordTooLong, obj.Key, row+1, before, MaxRecordBytes)
		}
		if err != nil && !errors.As(err, &pe) {
			return err
		}
		row++
		end := cr.InputOffset()
		src.mark = end
		if end-before > MaxRecordBytes {
			return fmt.Errorf("%w: %s: row %d (byte %d) has %d bytes, more than %d", ErrRecordTooLong, obj.Key, row, before, end-before, MaxRecordBytes)
		}
		if pe != nil && errors.Is(pe.Err, csv.ErrQuote) && end == obj.Size && pe.Line > pe.StartLine {
			return fmt.Errorf("%w: %s: row %d (byte %d): the quoted field opened on line %d runs to the end of the file (line %d) without a proper closing quote",
				ErrMalformed, obj.Key, row, before, pe.StartLine, pe.Line)
		}
		if end >= cut && end < obj.Size {
			if err := push(piece(end)); err != nil {
				return err
			}
			start, first, cut = end, row+1, nextCut(end, pieceSize)
		}
	}
	if row >= first {
		if err := push(piece(obj.Size)); err != nil {
			return err
		}
	} else if pending != nil {
		pending.End = obj.Size // only blank lines after the last cut
	}
	if pending != nil {
		return fn(*pending)
	}
	return nil
}

func readCSV(ctx context.Context, r RangeReader, p Piece, fn func(Record) error, bad func(*RowError)) (Counts, error) {
	var c Counts
	src, err := openSource(ctx, r, p.Key, p.Start, p.End-p.Start)
	if err != nil {
		return c, err
	}
	defer src.Close()
	cr := newCSVReader(src)
	src.mark = 0
	var n int64
	for {
		off := p.Start + cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		pe := (*csv.ParseError)(nil)
		if err != nil && !errors.As(err, &pe) {
			return c, err
		}
		n++
		src.mark = cr.InputOffset()
		row := int64(0)
		if p.FirstRow > 0 {
			row = p.FirstRow + n - 1
		}
		switch {
		case pe != nil:
			c.Bad++
			bad(&RowError{Key: p.Key, Row: row, Offset: off, Err: pe.Err})
		case len(rec) != len(p.Columns):
			c.Bad++
			bad(&RowError{Key: p.Key, Row: row, Offset: off,
				Err: fmt.Errorf("%w: %d fields, the header has %d", ErrRaggedRow, len(rec), len(p.Columns))})
		default:
			c.Good++
			if err := fn(Record{Row: row, Offset: off, Fields: rec}); err != nil {
				return c, err
			}
		}
	}
	if p.Rows > 0 && n != p.Rows {
		return c, fmt.Errorf("%w: %v holds %d records, planned %d", ErrChanged, p, n, p.Rows)
	}
	return c, nil
}
