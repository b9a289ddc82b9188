package tabular

import "github.com/parallelrun/prs/contracts"

// Piece is one mini-batch of a tabular input: a part of one object that
// holds whole records only ([contracts.Piece], the form it travels in);
// [ReadPiece] turns it into records.
type Piece = contracts.Piece

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
