package consumer

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// batchParts cuts a mini-batch's Batch into parts of its items for an
// isolation: the files [lo, hi) with their paths, or the rows [lo, hi) of
// its table under the table's header, in order and keeping their numbers
// (Table.FirstIndex).
type batchParts struct {
	b *Batch
	// ends are, for a CSV table, the byte offsets in Table.CSV where the
	// header (ends[0]) and each row i (ends[i+1]) end.
	ends []int
}

// newBatchParts readies b to be cut into parts.
func newBatchParts(b *Batch) (*batchParts, error) {
	p := &batchParts{b: b}
	if t := b.Table; t != nil && t.Format == "csv" {
		ends, err := csvEnds(t.CSV)
		if err != nil {
			return nil, err
		}
		if len(ends) != t.Rows+1 {
			return nil, fmt.Errorf("cutting the mini-batch's table: %d CSV records for a header and %d rows", len(ends), t.Rows)
		}
		p.ends = ends
	}
	return p, nil
}

// csvEnds returns the byte offset where each record of data ends.
func csvEnds(data []byte) ([]int, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord, r.ReuseRecord = -1, true
	var ends []int
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			return ends, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cutting the mini-batch's table: %w", err)
		}
		ends = append(ends, int(r.InputOffset()))
	}
}

// n is the number of items the handler is given.
func (p *batchParts) n() int {
	if p.b.Table != nil {
		return p.b.Table.Rows
	}
	return len(p.b.Paths)
}

// part returns the items [lo, hi) as a Batch of their own.
func (p *batchParts) part(lo, hi int) *Batch {
	b := *p.b
	t := p.b.Table
	if t == nil {
		b.Items, b.Paths = p.b.Items[lo:hi], p.b.Paths[lo:hi]
		return &b
	}
	pt := &Table{Format: t.Format, Columns: t.Columns, Rows: hi - lo, FirstIndex: t.FirstIndex + lo}
	if len(t.refs) == t.Rows {
		pt.refs = t.refs[lo:hi]
	}
	if p.ends != nil {
		pt.CSV = append(append(make([]byte, 0, p.ends[0]+p.ends[hi]-p.ends[lo]), t.CSV[:p.ends[0]]...), t.CSV[p.ends[lo]:p.ends[hi]]...)
	} else {
		pt.Records = t.Records[lo:hi]
	}
	b.Table = pt
	return &b
}

// name names item i: its file's key, or its table row ("data.csv: row
// 17", or its place in the mini-batch when the row's file is not known).
func (p *batchParts) name(i int) string {
	t := p.b.Table
	switch {
	case t == nil:
		return p.b.Items[i].Key
	case len(t.refs) == t.Rows:
		return t.refs[i].String()
	}
	return "row " + strconv.Itoa(t.FirstIndex+i+1) + " of the mini-batch"
}
