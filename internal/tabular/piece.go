package tabular

import (
	"fmt"

	"github.com/parallelrun/prs/contracts"
)

// Piece is one mini-batch of a tabular input: a part of one object that
// holds whole records only. It is plain data, JSON-serialisable, so that it
// can travel in a mini-batch message; [ReadPiece] turns it into records.
type Piece struct {
	// Key of the object in its store.
	Key string `json:"key"`
	// Format of the object.
	Format Format `json:"format"`
	// ObjectSize is the object's size in bytes when it was planned.
	ObjectSize int64 `json:"object_size"`
	// Start and End delimit the piece's bytes, [Start, End), for CSV and
	// JSON Lines; both are record boundaries. For CSV the header is never
	// inside a piece: the first piece starts after it. Unused for Parquet.
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
	// RowStart and RowEnd delimit the piece's rows for Parquet, [RowStart,
	// RowEnd), as 0-based row indexes in the whole file (a piece may span
	// several small row groups or be part of a large one). Unused for CSV and
	// JSON Lines.
	RowStart int64 `json:"row_start,omitempty"`
	RowEnd   int64 `json:"row_end,omitempty"`
	// RowGroup is the index of the Parquet row group that holds RowStart.
	RowGroup int `json:"row_group,omitempty"`
	// Columns are the CSV header's fields (a UTF-8 byte order mark removed
	// from the first), known to every piece, or the Parquet schema's
	// top-level field names. Empty for JSON Lines.
	Columns []string `json:"columns,omitempty"`
	// FirstRow is the 1-based number of the piece's first record among the
	// file's data records (the CSV header is row 0), for error messages; 0
	// for JSON Lines, which is cut without counting lines.
	FirstRow int64 `json:"first_row,omitempty"`
	// Rows is the number of records in the piece, malformed ones included
	// (the items of the mini-batch); 0 (unknown) for JSON Lines.
	Rows int64 `json:"rows,omitempty"`
}

// String names the piece for logs: "data/a.csv[1024:2048]" or
// "data/a.parquet#rows[0:5000]".
func (p Piece) String() string {
	if p.Format == Parquet {
		return fmt.Sprintf("%s#rows[%d:%d]", p.Key, p.RowStart, p.RowEnd)
	}
	return fmt.Sprintf("%s[%d:%d]", p.Key, p.Start, p.End)
}

// Record is one well-formed record of a piece.
type Record struct {
	// Row is the record's 1-based number among the file's data records;
	// 0 for JSON Lines (see [Piece.FirstRow]).
	Row int64
	// Offset is the byte offset in the object where the record (or the
	// blank lines before it) starts; -1 for Parquet.
	Offset int64
	// Fields are a CSV record's fields, one per column of [Piece.Columns].
	Fields []string
	// JSON is a JSON Lines row (the line without its line break and
	// surrounding blanks, a JSON object) or a Parquet row as a JSON object
	// whose top-level keys follow the schema's order.
	JSON []byte
}

// Counts are the records [ReadPiece] handed out.
type Counts struct {
	// Good records went to the record callback.
	Good int64
	// Bad records went to the bad callback as a [*RowError].
	Bad int64
}

// Wire returns the piece's wire form, for a mini-batch message.
func (p Piece) Wire() contracts.Piece {
	return contracts.Piece{Key: p.Key, Format: string(p.Format), ObjectSize: p.ObjectSize,
		Start: p.Start, End: p.End, RowStart: p.RowStart, RowEnd: p.RowEnd, RowGroup: p.RowGroup,
		Columns: p.Columns, FirstRow: p.FirstRow, Rows: p.Rows}
}

// FromWire returns the piece a mini-batch message carries.
func FromWire(w contracts.Piece) Piece {
	return Piece{Key: w.Key, Format: Format(w.Format), ObjectSize: w.ObjectSize,
		Start: w.Start, End: w.End, RowStart: w.RowStart, RowEnd: w.RowEnd, RowGroup: w.RowGroup,
		Columns: w.Columns, FirstRow: w.FirstRow, Rows: w.Rows}
}
