package contracts

import (
	"path"
	"path/filepath"
	"strings"
)

// Input formats of a tabular input (input_format). InputFormatAuto reads
// each file in the format its extension names.
const (
	InputFormatCSV     = "csv"
	InputFormatJSONL   = "jsonl"
	InputFormatParquet = "parquet"
	InputFormatAuto    = "auto"
)

// Output formats of append_row (output_format). The default ("") writes the
// rows as ParallelRunStep does: one line per row, a DataFrame row as its
// values separated by spaces.
const (
	OutputFormatText    = ""
	OutputFormatCSV     = "csv"
	OutputFormatJSONL   = "jsonl"
	OutputFormatParquet = "parquet"
)

// tabularExtensions are the extensions that make an input URI naming one
// file tabular when input_format is not given.
var tabularExtensions = map[string]bool{".csv": true, ".jsonl": true, ".ndjson": true, ".parquet": true, ".parq": true, ".pq": true}

// Tabular reports whether the job's input is tabular: input_format is set,
// or the input names one file whose extension is a tabular format's.
func (c *Config) Tabular() bool {
	if strings.TrimSpace(c.InputFormat) != "" {
		return true
	}
	return TabularFileURI(c.Input)
}

// TabularFileURI reports whether uri names one file of a tabular format by
// its extension ("s3://b/sales.parquet", "data/table.csv").
func TabularFileURI(uri string) bool {
	u := strings.TrimRight(uri, "/")
	if u != uri || strings.HasSuffix(u, "://") {
		return false
	}
	return tabularExtensions[strings.ToLower(path.Ext(u))]
}

// SplitSingleFileInput turns an input URI that names one tabular file into
// its folder and an include pattern anchored at that folder that matches
// the file alone (not a file of the same name in a subfolder), with
// input_format auto when it was not set, so that the input stays tabular.
// Other inputs are left as they are.
func (c *Config) SplitSingleFileInput() {
	if !TabularFileURI(c.Input) {
		return
	}
	var dir, base string
	if rest, ok := strings.CutPrefix(c.Input, "s3://"); ok {
		i := strings.LastIndex(rest, "/")
		if i < 0 {
			return // s3://x.csv is a bucket
		}
		dir, base = "s3://"+rest[:i], rest[i+1:]
	} else {
		dir, base = filepath.Dir(c.Input), filepath.Base(c.Input)
	}
	c.Input, c.Include = dir, []string{"/" + globEscape(base)}
	if strings.TrimSpace(c.InputFormat) == "" {
		c.InputFormat = InputFormatAuto
	}
}

// globEscape quotes the characters that path.Match treats as patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Piece is one mini-batch of a tabular input: a part of one object that
// holds whole records only (the wire form of internal/tabular's Piece).
type Piece struct {
	// Key of the object, relative to the input root (or to the job's
	// staging root when Staged).
	Key string `json:"key"`
	// Format is csv, jsonl or parquet.
	Format string `json:"format"`
	// ObjectSize is the object's size in bytes when it was planned.
	ObjectSize int64 `json:"object_size"`
	// Start and End delimit a CSV or JSON Lines piece's bytes, [Start, End).
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
	// RowStart and RowEnd delimit a Parquet piece's rows, [RowStart, RowEnd);
	// RowGroup is the row group that holds RowStart.
	RowStart int64 `json:"row_start,omitempty"`
	RowEnd   int64 `json:"row_end,omitempty"`
	RowGroup int   `json:"row_group,omitempty"`
	// Columns are the CSV header's fields or the Parquet schema's top-level
	// names; empty for JSON Lines.
	Columns []string `json:"columns,omitempty"`
	// FirstRow is the 1-based number of the piece's first data record in
	// its file (0 for JSON Lines); Rows the number of records it holds (0,
	// unknown, for JSON Lines: they are counted when the piece is read).
	FirstRow int64 `json:"first_row,omitempty"`
	Rows     int64 `json:"rows,omitempty"`
	// Staged marks an object the producer wrote under the job's staging
	// root: the rows of one partition_keys group.
	Staged bool `json:"staged,omitempty"`
}
