package resultfmt

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/tabular"
)

// Body renders the rows of one mini-batch in format (see the package
// documentation for each format). columns is non-nil when the user returned
// a pandas DataFrame; every row is then a JSON array of len(columns) values.
// Errors wrap [ErrUnknownFormat], or [ErrBadRow] and name the row's 0-based
// index in rows.
func Body(format string, columns []string, rows []json.RawMessage) ([]byte, error) {
	if err := Validate(format); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	var err error
	switch {
	case format == Text && columns == nil:
		err = textLines(&buf, rows)
	case format == Text:
		err = textRecords(&buf, columns, rows)
	case columns == nil:
		err = resultObjects(&buf, rows)
	default:
		err = columnObjects(&buf, columns, rows)
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// textLines writes each row on its own line: a JSON string as its text
// (a \udcXX escape as the byte it stands for: contracts.Name), any other
// value as compact JSON.
func textLines(buf *bytes.Buffer, rows []json.RawMessage) error {
	for i, r := range rows {
		if len(r) > 0 && r[0] == '"' {
			s, err := contracts.UnquoteName(r)
			if err != nil {
				return rowError(i, "not a valid JSON string: %v", err)
			}
			buf.WriteString(s)
		} else if err := json.Compact(buf, r); err != nil {
			return rowError(i, "not valid JSON: %v", err)
		}
		buf.WriteByte('\n')
	}
	return nil
}

// textRecords writes each DataFrame row as its values separated by spaces,
// as pandas' to_csv(sep=" ", header=False, index=False) does.
func textRecords(buf *bytes.Buffer, columns []string, rows []json.RawMessage) error {
	w := tabular.NewCSVWriter(buf, ' ')
	rec := make([]string, len(columns))
	for i, r := range rows {
		vals, err := splitRow(i, r, len(columns))
		if err != nil {
			return err
		}
		for j, v := range vals {
			rec[j] = cell(v, true)
		}
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	return w.Flush()
}

// resultObjects writes {"result":<row>} for each row.
func resultObjects(buf *bytes.Buffer, rows []json.RawMessage) error {
	for i, r := range rows {
		buf.WriteString(`{"result":`)
		if err := json.Compact(buf, r); err != nil {
			return rowError(i, "not valid JSON: %v", err)
		}
		buf.WriteString("}\n")
	}
	return nil
}

// columnObjects writes one object per DataFrame row, keys in column order.
func columnObjects(buf *bytes.Buffer, columns []string, rows []json.RawMessage) error {
	keys := make([][]byte, len(columns))
	for j, c := range columns {
		keys[j] = jsonString(c)
	}
	for i, r := range rows {
		vals, err := splitRow(i, r, len(columns))
		if err != nil {
			return err
		}
		buf.WriteByte('{')
		for j, v := range vals {
			if j > 0 {
				buf.WriteByte(',')
			}
			buf.Write(keys[j])
			buf.WriteByte(':')
			if err := json.Compact(buf, v); err != nil {
				return rowError(i, "value %d: %v", j, err)
			}
		}
		buf.WriteString("}\n")
	}
	return nil
}

// splitRow returns the n values of a DataFrame row.
func splitRow(i int, r json.RawMessage, n int) ([]json.RawMessage, error) {
	r = bytes.TrimSpace(r)
	if len(r) == 0 || r[0] != '[' {
		return nil, rowError(i, "want a JSON array of %d values, got %.40q", n, r)
	}
	var vals []json.RawMessage
	if err := json.Unmarshal(r, &vals); err != nil {
		return nil, rowError(i, "not valid JSON: %v", err)
	}
	if len(vals) != n {
		return nil, rowError(i, "want %d values (one per column), got %d", n, len(vals))
	}
	return vals, nil
}

func rowError(i int, format string, args ...any) error {
	return fmt.Errorf("%w: row %d: %s", ErrBadRow, i, fmt.Sprintf(format, args...))
}

// cell renders one valid JSON value as a CSV field: a string as its text,
// null as empty, a number as its JSON text, arrays and objects as compact
// JSON, and booleans as true/false, or True/False when python is set.
func cell(v []byte, python bool) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '"':
		if python { // the text output keeps the bytes of \udcXX escapes
			if s, err := contracts.UnquoteName(v); err == nil {
				return s
			}
		}
		var s string // CSV and Parquet are UTF-8: U+FFFD for such a byte
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	case 'n':
		return ""
	case 't':
		if python {
			return "True"
		}
	case 'f':
		if python {
			return "False"
		}
	case '[', '{':
		var b bytes.Buffer
		if json.Compact(&b, v) == nil {
			return b.String()
		}
	}
	return string(v)
}

// jsonString encodes s as a JSON string without escaping <, > and &.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
