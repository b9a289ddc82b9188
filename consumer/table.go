package consumer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/retry"
	"github.com/parallelrun/prs/internal/tabular"
)

// ReadTable reads the rows of a tabular mini-batch's piece from store. The
// well-formed rows go into the Table; each malformed row becomes an
// ItemError that names its file and row (or byte offset), a failed item
// that does not fail the mini-batch. items is the number of rows read,
// malformed ones included.
func ReadTable(ctx context.Context, store objstore.Store, p contracts.Piece) (t *Table, bad []ItemError, items int, err error) {
	t = &Table{Format: string(p.Format), Columns: p.Columns}
	var (
		buf bytes.Buffer
		cw  *tabular.CSVWriter
	)
	if p.Format == tabular.CSV {
		cw = tabular.NewCSVWriter(&buf, ',')
		if err := cw.Write(p.Columns); err != nil {
			return nil, nil, 0, err
		}
	}
	counts, err := tabular.ReadPiece(ctx, tabular.Ranges(store), p, func(r tabular.Record) error {
		t.refs = append(t.refs, rowRef{key: p.Key, row: r.Row, offset: r.Offset})
		if cw != nil {
			return cw.Write(r.Fields)
		}
		t.Records = append(t.Records, bytes.Clone(r.JSON))
		return nil
	}, func(re *tabular.RowError) {
		bad = append(bad, ItemError{Index: -1, Item: rowName(re), Err: re.Err.Error()})
	})
	if err != nil {
		return nil, nil, 0, tableError(store, p, err)
	}
	if cw != nil {
		if err := cw.Flush(); err != nil {
			return nil, nil, 0, err
		}
		t.CSV = buf.Bytes()
	}
	t.Rows = int(counts.Good)
	return t, bad, int(counts.Good + counts.Bad), nil
}

// rowName names a malformed row for the logs: "data.csv: row 17".
func rowName(re *tabular.RowError) string {
	return rowRef{key: re.Key, row: re.Row, offset: re.Offset}.String()
}

// rowRef locates a row in its file: its 1-based row number (0 when
// unknown: JSON Lines) and its byte offset.
type rowRef struct {
	key         string
	row, offset int64
}

// String names the row for the logs: "data.csv: row 17", "data.jsonl:
// line at byte 1024".
func (r rowRef) String() string {
	if r.row > 0 {
		return fmt.Sprintf("%s: row %d", r.key, r.row)
	}
	return fmt.Sprintf("%s: line at byte %d", r.key, r.offset)
}

// tableError sorts the error of reading a piece: storage trouble is
// transient, a file that changed or cannot be read is the batch's failure.
func tableError(store objstore.Store, p tabular.Piece, err error) error {
	data := false // the data is wrong, not the storage: retrying cannot help
	for _, e := range []error{tabular.ErrBinary, tabular.ErrMalformed, tabular.ErrChanged, tabular.ErrRecordTooLong, tabular.ErrUnknownFormat} {
		data = data || errors.Is(err, e)
	}
	if !data && objstore.IsTransient(err) {
		return &TransientError{Err: err}
	}
	return &ScriptError{Type: "InputError", Message: fmt.Sprintf("reading %s of %s: %v", p, store.URI(p.Key), err)}
}

// errBadItemsList: a staged file list that cannot be the mini-batch's
// (not JSON, or another number of files); retrying cannot fix it.
var errBadItemsList = retry.Permanent(errors.New("the mini-batch's staged file list is damaged"))

// loadItems reads the files of a mini-batch whose list was staged apart
// (MiniBatch.ItemsKey).
func loadItems(ctx context.Context, staging objstore.Store, mb *contracts.MiniBatch) error {
	rc, err := staging.Get(ctx, mb.ItemsKey)
	if err != nil {
		return err
	}
	defer rc.Close()
	var items []contracts.Item
	if err := json.NewDecoder(rc).Decode(&items); err != nil {
		if objstore.IsTransient(err) {
			return err
		}
		return fmt.Errorf("%w: %s of mini-batch %d: %v", errBadItemsList, staging.URI(mb.ItemsKey), mb.Index, err)
	}
	if len(items) != mb.ItemsCount {
		return fmt.Errorf("%w: %s of mini-batch %d holds %d files, want %d", errBadItemsList, staging.URI(mb.ItemsKey), mb.Index, len(items), mb.ItemsCount)
	}
	mb.Items = items
	return nil
}
