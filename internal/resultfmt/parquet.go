package resultfmt

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// limits bound the memory of finalParquet: a row group is cut after
// groupBytes of input lines or groupRows rows, and rows are handed to the
// writer batchRows at a time.
type limits struct {
	groupBytes int64
	groupRows  int64
	batchRows  int
}

var defaultLimits = limits{groupBytes: 64 << 20, groupRows: 1 << 20, batchRows: 256}

// kind is the type inferred for a Parquet column.
type kind uint8

const (
	kindNone   kind = iota // only nulls so far
	kindBool               // BOOLEAN
	kindInt                // INT64
	kindDouble             // DOUBLE
	kindString             // BYTE_ARRAY (UTF8)
)

// kindOf classifies one valid JSON value.
func kindOf(v []byte) kind {
	switch v[0] {
	case 'n':
		return kindNone
	case 't', 'f':
		return kindBool
	case '"', '[', '{':
		return kindString
	}
	if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return kindInt
	}
	if _, err := strconv.ParseFloat(string(v), 64); err == nil {
		return kindDouble
	}
	return kindString // a number out of float64's range
}

// merge is the kind of a column holding values of kinds a and b.
func merge(a, b kind) kind {
	switch {
	case a == kindNone:
		return b
	case b == kindNone, a == b:
		return a
	case (a == kindInt && b == kindDouble) || (a == kindDouble && b == kindInt):
		return kindDouble
	}
	return kindString
}

func (k kind) node() parquet.Node {
	switch k {
	case kindBool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	case kindInt:
		return parquet.Optional(parquet.Leaf(parquet.Int64Type))
	case kindDouble:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	}
	return parquet.Optional(parquet.String())
}

// value converts a non-null JSON value to a value of a column of kind k.
func (k kind) value(v []byte) (parquet.Value, error) {
	switch k {
	case kindBool:
		switch v[0] {
		case 't':
			return parquet.BooleanValue(true), nil
		case 'f':
			return parquet.BooleanValue(false), nil
		}
	case kindInt:
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			return parquet.Int64Value(n), nil
		}
	case kindDouble:
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return parquet.DoubleValue(f), nil
		}
	case kindString:
		return parquet.ByteArrayValue([]byte(cell(v, false))), nil
	}
	return parquet.Value{}, fmt.Errorf("value %.40q does not fit the column's type inferred in the first pass (was the input changed?)", v)
}

// orderedGroup is a parquet.Group whose fields keep the order given, where
// parquet.Group sorts them by name. parquet-go itself wraps Group this way
// for its VARIANT columns (type_variant.go).
type orderedGroup struct {
	parquet.Group
	fields []parquet.Field
}

func newOrderedGroup(names []string, nodes []parquet.Node) orderedGroup {
	g := make(parquet.Group, len(names))
	pos := make(map[string]int, len(names))
	for i, name := range names {
		g[name] = nodes[i]
		pos[name] = i
	}
	fields := make([]parquet.Field, len(names))
	for _, f := range g.Fields() {
		fields[pos[f.Name()]] = f
	}
	return orderedGroup{Group: g, fields: fields}
}

// Fields returns the fields in the order given to newOrderedGroup.
func (g orderedGroup) Fields() []parquet.Field { return g.fields }

// finalParquet writes one Parquet file with a column per key.
func finalParquet(in io.ReadSeeker, out io.Writer, lim limits) error {
	var kinds []kind
	cols, start, err := firstPass(in, Parquet, func(f field, i int) {
		if i == len(kinds) {
			kinds = append(kinds, kindNone)
		}
		kinds[i] = merge(kinds[i], kindOf(f.val))
	})
	if err != nil {
		return err
	}
	if len(cols.names) == 0 {
		cols.names, kinds = []string{"result"}, []kind{kindString}
	}
	nodes := make([]parquet.Node, len(kinds))
	for i, k := range kinds {
		nodes[i] = k.node()
	}
	schema := parquet.NewSchema("result", newOrderedGroup(cols.names, nodes))

	s, err := rewind(in, start)
	if err != nil {
		return err
	}
	w := parquet.NewWriter(out, schema,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(lim.groupRows))
	rows := make([]parquet.Row, 0, lim.batchRows)
	var groupBytes int64
	writeBatch := func() error {
		if _, err := w.WriteRows(rows); err != nil {
			return fmt.Errorf("resultfmt: parquet: write rows before line %d: %w", s.n, err)
		}
		rows = rows[:0]
		if groupBytes >= lim.groupBytes {
			groupBytes = 0
			if err := w.Flush(); err != nil {
				return fmt.Errorf("resultfmt: parquet: write a row group: %w", err)
			}
		}
		return nil
	}
	for {
		n, err := s.next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		groupBytes += int64(n)
		row := rows[:len(rows)+1][len(rows)][:0] // reuse the slice of an earlier batch
		for i := range cols.names {
			row = append(row, parquet.NullValue().Level(0, 0, i))
		}
		for _, f := range s.fields {
			i, ok := cols.index[f.key]
			if !ok {
				return fmt.Errorf("resultfmt: parquet: line %d: key %q appeared after the first pass (was the input changed?)", s.n, f.key)
			}
			if kindOf(f.val) == kindNone {
				row[i] = parquet.NullValue().Level(0, 0, i)
				continue
			}
			v, err := kinds[i].value(f.val)
			if err != nil {
				return fmt.Errorf("resultfmt: parquet: line %d, key %q: %w", s.n, f.key, err)
			}
			row[i] = v.Level(0, 1, i)
		}
		rows = append(rows, row)
		if len(rows) == lim.batchRows {
			if err := writeBatch(); err != nil {
				return err
			}
		}
	}
	if len(rows) > 0 {
		if err := writeBatch(); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("resultfmt: parquet: close the file: %w", err)
	}
	return nil
}
