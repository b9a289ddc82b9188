package tabular

import (
	"bufio"
	"encoding/csv"
	"io"
)

// CSVWriter writes records as this package (and pandas) read them back:
// encoding/csv's RFC 4180 quoting, except that a record of one empty field
// is written `""` (as Python's csv module does), not as the blank line that
// encoding/csv writes and that CSV readers skip.
type CSVWriter struct {
	bw *bufio.Writer
	cw *csv.Writer
}

// NewCSVWriter returns a writer to w that separates fields with comma.
func NewCSVWriter(w io.Writer, comma rune) *CSVWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	// bufio.NewWriter returns bw itself (it is large enough), so the csv
	// Writer and Write's `""` share one buffer and keep their order.
	cw := csv.NewWriter(bw)
	cw.Comma = comma
	return &CSVWriter{bw: bw, cw: cw}
}

// Write writes one record.
func (w *CSVWriter) Write(rec []string) error {
	if len(rec) == 1 && rec[0] == "" {
		_, err := w.bw.WriteString("\"\"\n")
		return err
	}
	return w.cw.Write(rec)
}

// Flush writes what is buffered and returns the first error of any write.
func (w *CSVWriter) Flush() error {
	w.cw.Flush()
	if err := w.cw.Error(); err != nil {
		return err
	}
	return w.bw.Flush()
}
