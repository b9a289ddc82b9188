package tabular

import (
	"context"
	"fmt"

	"github.com/parallelrun/prs/internal/objstore"
)

// Plan cuts the object obj (its Key and Size, as [objstore.Store.List]
// gives them) of the given format into pieces of about pieceSize bytes and
// calls fn for each, in order; an error from fn stops Plan and is returned
// as is. The pieces hold every record of the object exactly once. The rules
// (which bytes are read, where the cuts fall, how many pieces there are) are
// in the package documentation. Plan holds a bounded amount of memory
// whatever the object's size.
//
// Errors wrap [ErrBinary], [ErrMalformed], [ErrRecordTooLong] or
// [ErrChanged], or come from r, and name the key.
func Plan(ctx context.Context, r RangeReader, obj objstore.ObjectInfo, format Format, pieceSize int64, fn func(Piece) error) error {
	if pieceSize <= 0 {
		return fmt.Errorf("%w: piece size %d", ErrInvalidSize, pieceSize)
	}
	if obj.Size < 0 {
		return fmt.Errorf("tabular: plan %s: negative size %d", obj.Key, obj.Size)
	}
	switch format {
	case CSV:
		return planCSV(ctx, r, obj, pieceSize, fn)
	case JSONL:
		return planJSONL(ctx, r, obj, pieceSize, fn)
	case Parquet:
		return planParquet(ctx, r, obj, pieceSize, fn)
	}
	return fmt.Errorf("%w: %q for %s", ErrUnknownFormat, format, obj.Key)
}

// nextCut returns the first grid position k*pieceSize (k >= 1) after b:
// the cut that the piece starting at boundary b aims at.
func nextCut(b, pieceSize int64) int64 {
	k := b/pieceSize + 1
	if k > (1<<62)/pieceSize {
		return 1 << 62
	}
	return k * pieceSize
}

// ReadPiece reads the records of p in order: fn gets each well-formed
// record, bad (which may be nil) each malformed one as a [*RowError] that
// names the key and the row (or byte offset). A malformed record never stops
// the piece; an error from fn does and is returned as is. Other errors end
// the piece: an unreadable object, a binary file ([ErrBinary]), a corrupt
// Parquet page ([ErrMalformed]), an object that changed since Plan
// ([ErrChanged]). Counts tell how many records went each way; a CSV or
// Parquet piece that ends without error has Good+Bad == p.Rows.
func ReadPiece(ctx context.Context, r RangeReader, p Piece, fn func(Record) error, bad func(*RowError)) (Counts, error) {
	if bad == nil {
		bad = func(*RowError) {}
	}
	if err := validatePiece(p); err != nil {
		return Counts{}, err
	}
	switch p.Format {
	case CSV:
		return readCSV(ctx, r, p, fn, bad)
	case JSONL:
		return readJSONL(ctx, r, p, fn, bad)
	default:
		return readParquet(ctx, r, p, fn, bad)
	}
}

func validatePiece(p Piece) error {
	bad := func(why string) error { return fmt.Errorf("tabular: invalid piece %v: %s", p, why) }
	switch {
	case !validFormat(p.Format):
		return fmt.Errorf("%w: %q in piece of %s", ErrUnknownFormat, p.Format, p.Key)
	case p.Key == "":
		return bad("no key")
	case p.Format != Parquet && (p.Start < 0 || p.End < p.Start || p.End > p.ObjectSize):
		return bad(fmt.Sprintf("byte range outside the object's %d bytes", p.ObjectSize))
	case p.Format == Parquet && (p.RowStart < 0 || p.RowEnd < p.RowStart):
		return bad("row range")
	case p.Format == CSV && len(p.Columns) == 0:
		return bad("no CSV header")
	}
	return nil
}
