package contracts

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Input formats of a tabular input (input_format). InputFormatAuto reads
// each file in the format its extension names.
const (
	InputFormatCSV     = string(TableCSV)
	InputFormatJSONL   = string(TableJSONL)
	InputFormatParquet = string(TableParquet)
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

// tableExtensions maps the extensions of table files (lower case) to their
// formats: what makes an input URI naming one file tabular, and what
// input_format auto reads.
var tableExtensions = map[string]TableFormat{
	".csv": TableCSV, ".jsonl": TableJSONL, ".ndjson": TableJSONL,
	".parquet": TableParquet, ".parq": TableParquet, ".pq": TableParquet,
}

// TableFormatOf returns the format that a key's extension names (any case),
// and false for any other extension.
func TableFormatOf(key string) (TableFormat, bool) {
	f, ok := tableExtensions[strings.ToLower(path.Ext(key))]
	return f, ok
}

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
	_, ok := TableFormatOf(u)
	return ok
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

// globEscape quotes the characters that path.Match treats as patterns. It
// works on bytes, so that a name that is not UTF-8 keeps its bytes (and
// path.Match compares literal bytes as they are).
func globEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// TableFormat is the format of a tabular object: csv, jsonl or parquet.
type TableFormat string

// The table formats.
const (
	TableCSV     TableFormat = "csv"     // RFC 4180 CSV with a header row, comma-separated
	TableJSONL   TableFormat = "jsonl"   // JSON Lines: one JSON object per line
	TableParquet TableFormat = "parquet" // Apache Parquet
)

// Piece is one mini-batch of a tabular input: a part of one object that
// holds whole records only. internal/tabular plans pieces and reads their
// records; a piece travels in its mini-batch message.
type Piece struct {
	// Key of the object, relative to the input root (or to the job's
	// staging root when Staged); in JSON a Name.
	Key string `json:"key"`
	// Format of the object.
	Format TableFormat `json:"format"`
	// ObjectSize is the object's size in bytes when it was planned.
	ObjectSize int64 `json:"object_size"`
	// Start and End delimit the piece's bytes, [Start, End), for CSV and
	// JSON Lines; both are record boundaries. For CSV the header is never
	// inside a piece: the first piece starts after it. Unused for Parquet.
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
	// RowStart and RowEnd delimit the piece's rows for Parquet, [RowStart,
	// RowEnd), as 0-based row indexes in the whole file (a piece may span
	// several small row groups or be part of a large one). Unused for CSV and
	// JSON Lines.
	RowStart int64 `json:"row_start,omitempty"`
	RowEnd   int64 `json:"row_end,omitempty"`
	// RowGroup is the index of the Parquet row group that holds RowStart.
	RowGroup int `json:"row_group,omitempty"`
	// Columns are the CSV header's fields (a UTF-8 byte order mark removed
	// from the first), known to every piece, or the Parquet schema's
	// top-level field names. Empty for JSON Lines.
	Columns []string `json:"columns,omitempty"`
	// FirstRow is the 1-based number of the piece's first record among the
	// file's data records (the CSV header is row 0), for error messages; 0
	// for JSON Lines, which is cut without counting lines.
	FirstRow int64 `json:"first_row,omitempty"`
	// Rows is the number of records in the piece, malformed ones included
	// (the items of the mini-batch); 0 (unknown) for JSON Lines.
	Rows int64 `json:"rows,omitempty"`
	// Staged marks an object the producer wrote under the job's staging
	// root: the rows of one partition_keys group.
	Staged bool `json:"staged,omitempty"`
}

// String names the piece for logs: "data/a.csv[1024:2048]" or
// "data/a.parquet#rows[0:5000]".
func (p Piece) String() string {
	if p.Format == TableParquet {
		return fmt.Sprintf("%s#rows[%d:%d]", p.Key, p.RowStart, p.RowEnd)
	}
	return fmt.Sprintf("%s[%d:%d]", p.Key, p.Start, p.End)
}

// TablePatterns returns include patterns that match the files of every
// table extension, in lower and upper case ("*.csv", "*.CSV", ...): how an
// Azure ML mltable folder's tables are picked, its MLTable file left out.
func TablePatterns() []string {
	var ps []string
	for ext := range tableExtensions {
		ps = append(ps, "*"+ext, "*"+strings.ToUpper(ext))
	}
	sort.Strings(ps)
	return ps
}
