package tabular

import (
	"fmt"
	"strings"

	"github.com/parallelrun/prs/contracts"
)

// Format is a tabular input format. Its value is the input_format setting.
type Format = contracts.TableFormat

// The formats.
const (
	CSV     = contracts.TableCSV     // RFC 4180 CSV with a header row, comma-separated
	JSONL   = contracts.TableJSONL   // JSON Lines: one JSON object per line
	Parquet = contracts.TableParquet // Apache Parquet
)

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
	if f, ok := contracts.TableFormatOf(key); ok {
		return f, nil
	}
	return "", fmt.Errorf("%w: %q: cannot tell the format from the extension (want .csv, .jsonl, .ndjson or .parquet, or set input_format)", ErrUnknownFormat, key)
}

// validFormat reports whether f is one of the formats.
func validFormat(f Format) bool { return f == CSV || f == JSONL || f == Parquet }
