package tabular

import (
	"fmt"
	"path"
	"strings"
)

// Format is a tabular input format. Its value is the input_format setting.
type Format string

// The formats.
const (
	CSV     Format = "csv"     // RFC 4180 CSV with a header row, comma-separated
	JSONL   Format = "jsonl"   // JSON Lines: one JSON object per line
	Parquet Format = "parquet" // Apache Parquet
)

// extensions maps a key's extension (lower case) to its format.
var extensions = map[string]Format{
	".csv":     CSV,
	".jsonl":   JSONL,
	".ndjson":  JSONL,
	".parquet": Parquet,
	".parq":    Parquet,
	".pq":      Parquet,
}

// DetectFormat returns the format of the object key: explicit when it is
// set (the input_format setting: "csv", "jsonl" or "parquet", any case),
// else the one its extension names (.csv; .jsonl or .ndjson; .parquet, .parq
// or .pq; any case). Anything else is an error wrapping [ErrUnknownFormat]
// that names the value or the key. Compressed files (.csv.gz) are not
// supported.
func DetectFormat(key, explicit string) (Format, error) {
	if e := strings.TrimSpace(explicit); e != "" {
		switch f := Format(strings.ToLower(e)); f {
		case CSV, JSONL, Parquet:
			return f, nil
		}
		return "", fmt.Errorf("%w: input_format %q (want csv, jsonl or parquet)", ErrUnknownFormat, explicit)
	}
	if f, ok := extensions[strings.ToLower(path.Ext(key))]; ok {
		return f, nil
	}
	return "", fmt.Errorf("%w: %q: cannot tell the format from the extension (want .csv, .jsonl, .ndjson or .parquet, or set input_format)", ErrUnknownFormat, key)
}

// valid reports whether f is one of the formats.
func (f Format) valid() bool { return f == CSV || f == JSONL || f == Parquet }
