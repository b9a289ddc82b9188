package tabular

import (
	"errors"
	"fmt"

	"github.com/parallelrun/prs/contracts"
)

// Sentinel errors. The errors of this package wrap them and name the value,
// the object's key and, where there is one, the row or byte offset; test them
// with errors.Is.
var (
	// ErrInvalidSize: a mini_batch_size that is not a positive size such
	// as 1024, 64KB, 10MB or 1GB (it is [contracts.ErrInvalidSize]).
	ErrInvalidSize = contracts.ErrInvalidSize
	// ErrUnknownFormat: input_format is not csv, jsonl or parquet, or it is
	// not given and the key's extension does not tell.
	ErrUnknownFormat = errors.New("tabular: unknown input format")
	// ErrBinary: a CSV or JSON Lines object holds a NUL byte, so it is not
	// a text file (a binary file with a .csv name, a compressed file).
	ErrBinary = errors.New("tabular: binary data in a text format")
	// ErrMalformed: the object cannot be cut into pieces or a piece cannot
	// be read at all: a truncated or corrupt Parquet file, a CSV header that
	// does not parse, a CSV quoted field left open up to the end of the file.
	ErrMalformed = errors.New("tabular: malformed file")
	// ErrRecordTooLong: a CSV record or a JSON Lines line is longer than
	// [MaxRecordBytes]. In CSV it fails the whole object (a record cannot be
	// skipped without parsing it); in JSON Lines it fails that row only.
	ErrRecordTooLong = errors.New("tabular: record too long")
	// ErrRaggedRow: a CSV record whose number of fields differs from the
	// header's. It fails that row only.
	ErrRaggedRow = errors.New("tabular: wrong number of fields")
	// ErrInvalidJSON: a JSON Lines line that is not one JSON object. It
	// fails that row only.
	ErrInvalidJSON = errors.New("tabular: invalid JSON Lines row")
	// ErrChanged: the object is not the one the piece was planned from
	// (shorter, or a different number of rows in the piece).
	ErrChanged = errors.New("tabular: object changed since it was planned")
)

// RowError is the error of one malformed record: it counts as one failed
// item and does not fail the piece. [ReadPiece] hands it to its bad callback.
type RowError struct {
	// Key of the object.
	Key string
	// Row is the 1-based number of the record among the file's data
	// records (a CSV header is row 0); 0 when unknown: JSON Lines pieces are
	// cut without counting the lines before them.
	Row int64
	// Offset is the byte offset in the object where the record (or the
	// blank lines before it) starts; -1 for Parquet.
	Offset int64
	// Err is what is wrong: it wraps [ErrRaggedRow], [ErrInvalidJSON],
	// [ErrRecordTooLong], or encoding/csv's ErrQuote, ErrBareQuote.
	Err error
}

func (e *RowError) Error() string {
	switch {
	case e.Row > 0 && e.Offset >= 0:
		return fmt.Sprintf("%s: row %d (byte %d): %v", e.Key, e.Row, e.Offset, e.Err)
	case e.Row > 0:
		return fmt.Sprintf("%s: row %d: %v", e.Key, e.Row, e.Err)
	default:
		return fmt.Sprintf("%s: line at byte %d: %v", e.Key, e.Offset, e.Err)
	}
}

func (e *RowError) Unwrap() error { return e.Err }
