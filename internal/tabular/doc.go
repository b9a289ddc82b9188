// Package tabular cuts tabular inputs (CSV, JSON Lines, Parquet) into
// pieces of about mini_batch_size bytes, and reads the records of one piece.
// A piece ([Piece]) is a mini-batch: plain data that travels in the
// mini-batch message; the producer calls [Plan], a worker calls [ReadPiece].
//
//	size, err := tabular.ParseSize(cfg.MiniBatchSize)      // "64KB" -> 65536; unset: DefaultPieceSize
//	format, err := tabular.DetectFormat(obj.Key, cfg.InputFormat)
//	err = tabular.Plan(ctx, tabular.Ranges(store), obj, format, size, publish)
//	counts, err := tabular.ReadPiece(ctx, tabular.Ranges(store), piece, onRecord, onBadRow)
//
// # Sizes and formats
//
// [ParseSize] reads "1024", "64KB", "10MB", "1GB" (KB = 1024 bytes); the
// default is [DefaultPieceSize] (1 MiB). [DetectFormat] takes input_format
// when given and the extension otherwise (.csv, .jsonl/.ndjson, .parquet).
//
// # Ranged reads
//
// Plan and ReadPiece read through a [RangeReader], the ranged GET that
// [objstore.Store] does not offer yet. [Ranges] adapts a store: a local
// folder is read in place; a store with a method GetRange(ctx, key, off, n)
// uses it; any other store (S3 today) falls back to Get and skipping off
// bytes. The fallback is correct but reads each object from its start for
// every piece and every JSON Lines probe, so the bytes transferred grow with
// pieces × size: objstore needs GetRange (an S3 GET with "Range:
// bytes=off-(off+n-1)", forwarded by WithRetry) before large tabular inputs
// on S3 are practical. Plan and ReadPiece never ask for an empty range.
//
// # Where the cuts fall
//
// Let P be the piece size and S the object's size. Every format aims at the
// grid positions P, 2P, 3P, ... and cuts at the first record boundary at or
// after each one; when one record spans several grid positions they give one
// cut. So a piece never splits a record, an object of at most P bytes is one
// piece, and there are at most ceil(S/P) pieces; when every record (the CSV
// header included) is shorter than P there are ceil(S/P) or ceil(S/P)-1 (the
// last grid position may fall inside the last record). A piece never spans
// two objects. In code: after a piece that ends at boundary b, the next cut
// aims at (b/P+1)*P.
//
// JSON Lines: a record boundary is a line start. To cut near c, Plan reads a
// 16 KiB window from c-1 (doubling up to 1 MiB while no line break is found)
// and cuts after the first '\n'. A JSON string cannot hold a raw line break,
// so this is always safe, and Plan reads about 16 KiB per piece plus the
// first 16 KiB (to reject a binary file), never the whole object. Blank lines
// are skipped; every other line is one row and must be one JSON object, or
// it is a failed row.
//
// CSV: a line break inside a quoted field ("a\nb") is not a record boundary,
// and whether a byte is inside quotes depends on every quote before it: no
// window after c can prove that a line break ends a record. Choosing
// correctness, Plan therefore reads each CSV object once, from start to end,
// through the same parser that ReadPiece uses (encoding/csv: RFC 4180,
// comma-separated, strict quotes, a quoted CRLF read as LF, blank lines
// skipped), and
// cuts after the first record that ends at or past each grid position. The
// scan streams through a 64 KiB buffer and keeps one record at most
// ([MaxRecordBytes], 8 MiB; a longer record fails the object with
// [ErrRecordTooLong]), so memory stays bounded whatever the object's size
// (BenchmarkPlanCSV1GB measures under 100 MB of resident memory for a 1 GiB
// CSV). Since planner and reader share the parser, they agree on every
// record boundary, malformed records included, and the scan gives each piece
// its exact row numbers (FirstRow, Rows). The first record is the header:
// every piece carries its fields (Columns) and starts after it. A file that
// is empty or holds a header only has no pieces. A quoted field still open
// at the end of the file would swallow every line after it into one failed
// row; Plan refuses such a file with [ErrMalformed] instead.
//
// Parquet: Plan reads the footer only (the 4-byte magic, then one 64 KiB
// read at the end, more only for a larger footer), never a page. Row groups
// of at most P stored (compressed) bytes are packed, in order, into pieces of
// at most P bytes; a larger row group is cut into min(rows, ceil(bytes/P))
// row ranges whose row counts differ by one at most, so a file with a single
// row group still splits. An object of at most P bytes is one piece. Pieces
// are row ranges [RowStart, RowEnd) of the whole file; reading one decodes
// the pages it needs (seeking with the page index when the file has one).
// Each page header is checked in the bytes parquet-go reads anyway, before
// it decodes the header: a page larger than what is left of its column
// chunk, one over [MaxPageBytes] (256 MiB) once uncompressed, a header
// string longer than the chunk, or a page index entry inside another page
// fails the piece with [ErrMalformed] naming the row group, the column and
// the page's byte offset. The check makes no read of its own.
//
// # Records and failed rows
//
// ReadPiece hands out each well-formed record ([Record]): CSV fields in
// header order, a JSON Lines line, or a Parquet row as a JSON object (its
// top-level keys in schema order, nested groups as objects, lists as arrays,
// BYTE_ARRAY values as strings, NaN and infinities as null). A
// malformed record is a failed row, given to the bad callback as a
// [*RowError] that names the key, the row (1-based among the data records;
// the CSV header is row 0) and the byte offset; it never fails the piece. A
// CSV row whose field count differs from the header's ([ErrRaggedRow]), a
// CSV quoting error (csv.ErrQuote, csv.ErrBareQuote), a JSON Lines line that
// is not a JSON object ([ErrInvalidJSON]) or longer than MaxRecordBytes, and
// a Parquet row that cannot be turned into JSON are failed rows. JSON Lines
// row numbers are unknown (Row 0): the lines before a piece are never read,
// so its errors give the byte offset instead.
//
// What makes a whole object or piece unusable is an error, never a silent
// loss: a NUL byte in a CSV or JSON Lines object ([ErrBinary]: a binary file
// with a .csv name), a truncated or corrupt Parquet file ([ErrMalformed]), an
// object that changed since it was planned ([ErrChanged]: shorter, or a CSV
// or Parquet piece whose row count differs from the plan).
package tabular
