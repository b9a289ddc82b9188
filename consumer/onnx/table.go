package onnx

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// tabular resolves kind tabular: one item is the values of the feature
// columns, laid out in the model input's shape without its batch
// dimension, whose size must be the number of columns.
func (p *plan) tabular(pre contracts.Preprocess) error {
	if len(pre.Columns) == 0 {
		return &contracts.FieldError{Field: "onnx.preprocess.columns", Err: fmt.Errorf("%w: is required with kind tabular: the feature columns, in the model's order", contracts.ErrInvalid)}
	}
	for i, c := range pre.Columns {
		if strings.TrimSpace(c) == "" {
			return &contracts.FieldError{Field: "onnx.preprocess.columns", Err: fmt.Errorf("%w: column %d has no name", contracts.ErrInvalid, i)}
		}
	}
	if err := p.dtype(pre.DType); err != nil {
		return err
	}
	n := len(pre.Columns)
	fixed, dynamic := 1, -1
	for i, d := range p.item {
		if d > 0 {
			fixed *= int(d)
			continue
		}
		if dynamic >= 0 {
			return mismatch("preprocess.columns", "model input %q %v has more than one dynamic dimension besides the batch: kind tabular cannot tell its shape from %d columns",
				p.in.Name, []int64(p.in.Dimensions), n)
		}
		dynamic = i
	}
	switch {
	case dynamic < 0 && fixed != n:
		return mismatch("preprocess.columns", "has %d columns, but model input %q %v takes %d values per row (the product of its dimensions after the batch, %v)",
			n, p.in.Name, []int64(p.in.Dimensions), fixed, p.item)
	case dynamic >= 0 && n%fixed != 0:
		return mismatch("preprocess.columns", "has %d columns, but model input %q %v takes a multiple of %d values per row",
			n, p.in.Name, []int64(p.in.Dimensions), fixed)
	case dynamic >= 0:
		p.item[dynamic] = int64(n / fixed)
	}
	p.columns = pre.Columns
	p.columnAt = make(map[string][]int, n)
	for j, c := range p.columns {
		p.columnAt[c] = append(p.columnAt[c], j)
	}
	p.idColumn = pre.IDColumn
	if p.idColumn != "" {
		p.rowKey = "id"
	}

	p.scale = pre.Scale
	if p.scale == 0 {
		p.scale = 1
	}
	perColumn := func(field string, vs []float64, def float64) ([]float64, error) {
		out := make([]float64, n)
		switch len(vs) {
		case 0:
			vs = []float64{def}
			fallthrough
		case 1:
			for i := range out {
				out[i] = vs[0]
			}
		case n:
			copy(out, vs)
		default:
			return nil, mismatch(field, "has %d values for %d columns: give one value, or one per column", len(vs), n)
		}
		return out, nil
	}
	var err error
	if p.mean, err = perColumn("preprocess.mean", pre.Mean, 0); err != nil {
		return err
	}
	if p.std, err = perColumn("preprocess.std", pre.Std, 1); err != nil {
		return err
	}
	p.identity = p.scale == 1
	for i := range n {
		if p.std[i] == 0 {
			return &contracts.FieldError{Field: "onnx.preprocess.std", Err: fmt.Errorf("%w: column %q has std 0", contracts.ErrInvalid, p.columns[i])}
		}
		p.identity = p.identity && p.mean[i] == 0 && p.std[i] == 1
	}
	return nil
}

// putValue parses s, the value of feature column j, into element j of an
// item's input: (v*scale - mean[j]) / std[j], as float32 or, for a uint8
// input, rounded to the nearest whole number in 0..255.
func (p *plan) putValue(j int, s string, f32 []float32, u8 []uint8) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return fmt.Errorf("column %q has no value", p.columns[j])
	}
	bits := 64
	if p.identity && f32 != nil {
		bits = 32 // the float32 nearest to the text, without double rounding
	}
	v, err := strconv.ParseFloat(s, bits)
	switch {
	case errors.Is(err, strconv.ErrRange):
		return fmt.Errorf("column %q: %s is out of range", p.columns[j], quote(s))
	case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("column %q: %s is not a number", p.columns[j], quote(s))
	}
	x := v
	if !p.identity {
		x = (v*p.scale - p.mean[j]) / p.std[j]
	}
	if f32 != nil {
		f := float32(x)
		if math.IsInf(float64(f), 0) {
			return fmt.Errorf("column %q: %s gives %g, out of float32's range", p.columns[j], quote(s), x)
		}
		f32[j] = f
		return nil
	}
	r := math.Round(x)
	if r < 0 || r > 255 {
		return fmt.Errorf("column %q: %s gives %g, out of uint8's 0..255", p.columns[j], quote(s), x)
	}
	u8[j] = uint8(r)
	return nil
}

// quote quotes a value for an error message, cut to a readable length.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// items are the items of one mini-batch as the pipeline sees them: files
// or the rows of a table.
type items interface {
	len() int
	// decode writes item i into one item's input (f32 or u8). It is called
	// from many goroutines at once, each with its own sc and item.
	decode(i int, f32 []float32, u8 []uint8, sc *scratch) error
	// name names item i's row: the file's base name, the row's id, or ""
	// when rows are not named. Only after decode(i) has returned nil.
	name(i int) string
	// failed is the ItemError of item i, which failed with err.
	failed(i int, err error) consumer.ItemError
}

// tableRows are the rows of a tabular mini-batch.
type tableRows struct {
	p   *plan
	key string // the piece's object key, "" when unknown
	// first is the place of the first row in the mini-batch's table (a
	// part of it run alone by isolate_failures starts past 0).
	first int
	// CSV: the records, and for each feature column the index of its field.
	records [][]string
	fields  []int
	idField int // the id column's field, -1 for none
	// JSON Lines and Parquet (json): one object per row, and the ids
	// decode finds.
	json    bool
	objects []json.RawMessage
	ids     []string
}

// newTableRows reads the rows of b's table. A table without a feature
// column or the id column in its header (CSV) or schema (Parquet) is the
// mini-batch's error: every row would fail alike.
func newTableRows(p *plan, b *consumer.Batch) (*tableRows, error) {
	t := b.Table
	r := &tableRows{p: p, idField: -1, first: t.FirstIndex}
	if len(b.Items) == 1 {
		r.key = b.Items[0].Key
	}
	if t.Format != contracts.InputFormatCSV {
		if len(t.Columns) > 0 { // a Parquet schema: every row has its columns
			if _, _, err := r.index(t.Columns); err != nil {
				return nil, err
			}
		}
		r.json, r.objects = true, t.Records
		r.ids = make([]string, len(t.Records))
		return r, nil
	}
	cr := csv.NewReader(bytes.NewReader(t.CSV))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return r, nil
	}
	if err != nil {
		return nil, r.inputError("the mini-batch's CSV: %v", err)
	}
	if r.fields, r.idField, err = r.index(header); err != nil {
		return nil, err
	}
	r.records = make([][]string, 0, t.Rows)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, r.inputError("the mini-batch's CSV: %v", err)
		}
		r.records = append(r.records, rec)
	}
	return r, nil
}

// index finds the feature and id columns among the table's columns (the
// first of equal names): the place of each feature column, and the id
// column's (-1 for none).
func (r *tableRows) index(columns []string) (fields []int, idField int, err error) {
	at := make(map[string]int, len(columns))
	for i, c := range columns {
		if _, ok := at[c]; !ok {
			at[c] = i
		}
	}
	var missing []string
	fields = make([]int, len(r.p.columns))
	for j, c := range r.p.columns {
		i, ok := at[c]
		if !ok {
			missing = append(missing, strconv.Quote(c))
		}
		fields[j] = i
	}
	if len(missing) > 0 {
		return nil, -1, r.inputError("the table has no column %s of onnx.preprocess.columns; its columns: %s", strings.Join(missing, ", "), list(columns))
	}
	idField = -1
	if c := r.p.idColumn; c != "" {
		i, ok := at[c]
		if !ok {
			return nil, -1, r.inputError("the table has no column %q (onnx.preprocess.id_column); its columns: %s", c, list(columns))
		}
		idField = i
	}
	return fields, idField, nil
}

// list joins names for an error message, at most 20 of them.
func list(names []string) string {
	if len(names) > 20 {
		return strings.Join(names[:20], ", ") + fmt.Sprintf(", ... (%d in all)", len(names))
	}
	return strings.Join(names, ", ")
}

func (r *tableRows) inputError(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if r.key != "" {
		msg = r.key + ": " + msg
	}
	return &consumer.ScriptError{Type: "InputError", Message: "onnx: " + msg}
}

func (r *tableRows) len() int {
	if r.json {
		return len(r.objects)
	}
	return len(r.records)
}

func (r *tableRows) decode(i int, f32 []float32, u8 []uint8, sc *scratch) error {
	if r.json {
		return r.decodeObject(i, f32, u8, sc)
	}
	rec := r.records[i]
	if r.idField >= 0 && (r.idField >= len(rec) || rec[r.idField] == "") {
		return fmt.Errorf("id column %q has no value", r.p.idColumn)
	}
	for j, k := range r.fields {
		var s string
		if k < len(rec) {
			s = rec[k]
		}
		if err := r.p.putValue(j, s, f32, u8); err != nil {
			return err
		}
	}
	return nil
}

// decodeObject decodes row i, a JSON object. Numbers may be JSON numbers
// or strings that hold one; an id that is not a string is its JSON text.
// Of keys that repeat, the last counts (as in encoding/json).
func (r *tableRows) decodeObject(i int, f32 []float32, u8 []uint8, sc *scratch) error {
	p := r.p
	sc.vals = slices.Grow(sc.vals[:0], len(p.columns))[:len(p.columns)]
	clear(sc.vals)
	var id []byte
	err := jsonFields(r.objects[i], func(key, raw []byte) {
		if p.idColumn != "" && string(key) == p.idColumn {
			id = raw
		}
		for _, j := range p.columnAt[string(key)] {
			sc.vals[j] = raw
		}
	})
	if err != nil {
		return err
	}
	if p.idColumn != "" {
		s, ok := jsonText(id)
		if !ok || s == "" {
			return fmt.Errorf("id column %q has no value", p.idColumn)
		}
		r.ids[i] = s
	}
	for j, raw := range sc.vals {
		// A JSON number is Go syntax too; true, objects and arrays are not
		// numbers to ParseFloat.
		s, _ := jsonText(raw)
		if err := p.putValue(j, s, f32, u8); err != nil {
			return err
		}
	}
	return nil
}

func (r *tableRows) name(i int) string { return r.id(i) }

// failed names row i: "data.csv: row 12 of the mini-batch", with its id
// when it has one ("data.csv: a-17 (row 12 of the mini-batch)").
func (r *tableRows) failed(i int, err error) consumer.ItemError {
	item := fmt.Sprintf("row %d of the mini-batch", r.first+i+1)
	if id := r.id(i); id != "" {
		item = fmt.Sprintf("%s (%s)", id, item)
	}
	if r.key != "" {
		item = r.key + ": " + item
	}
	return consumer.ItemError{Index: -1, Item: item, Err: err.Error()}
}

// id is row i's id as far as it is known, "" when it is not.
func (r *tableRows) id(i int) string {
	switch {
	case r.p.idColumn == "":
		return ""
	case r.json:
		return r.ids[i]
	case r.idField < len(r.records[i]):
		return r.records[i][r.idField]
	}
	return ""
}

// files are the items of a file input: one file each.
type files struct {
	s     *session
	paths []string
}

func (f files) len() int { return len(f.paths) }

func (f files) decode(i int, f32 []float32, u8 []uint8, sc *scratch) error {
	p := f.s.plan
	if p.kind == kindNPY {
		return p.decodeNPY(f.paths[i], sc, f32, u8)
	}
	pix, err := p.decodeImage(f.paths[i], sc)
	if err != nil {
		return err
	}
	p.store(pix, f32, u8)
	return nil
}

func (f files) name(i int) string { return filepath.Base(f.paths[i]) }

func (f files) failed(i int, err error) consumer.ItemError {
	return consumer.ItemError{Index: i, Err: err.Error()}
}

// itemsOf returns b's items for the plan's kind; a mini-batch of the wrong
// kind is the batch's error.
func (s *session) itemsOf(b *consumer.Batch) (items, error) {
	if s.plan.kind == kindTabular {
		if b.Table == nil {
			return nil, &consumer.ScriptError{Type: "InputError", Message: fmt.Sprintf("onnx: preprocess kind tabular scores the rows of a tabular input, but mini-batch %d holds %d files", b.Index, len(b.Paths))}
		}
		return newTableRows(s.plan, b)
	}
	if b.Table != nil {
		return nil, &consumer.ScriptError{Type: "InputError", Message: fmt.Sprintf("onnx: preprocess kind %s scores files, but mini-batch %d holds %d rows of a table: set onnx.preprocess.kind tabular", s.plan.kind, b.Index, b.Table.Rows)}
	}
	return files{s: s, paths: b.Paths}, nil
}
