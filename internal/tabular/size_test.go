package tabular_test

import (
	"errors"
	"testing"

	"github.com/parallelrun/prs/internal/tabular"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int64{
		"1024": 1024, "64KB": 64 << 10, "10MB": 10 << 20, "1GB": 1 << 30,
		"1kb": 1 << 10, "64 KB": 64 << 10, " 2MiB ": 2 << 20, "3k": 3 << 10, "5B": 5, "1TB": 1 << 40,
	} {
		got, err := tabular.ParseSize(s)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	if tabular.DefaultPieceSize != 1<<20 {
		t.Errorf("DefaultPieceSize = %d", tabular.DefaultPieceSize)
	}
}

func TestDetectFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key, explicit string
		want          tabular.Format
	}{
		{"a/b.csv", "", tabular.CSV},
		{"a/B.CSV", "", tabular.CSV},
		{"x.jsonl", "", tabular.JSONL},
		{"x.ndjson", "", tabular.JSONL},
		{"x.parquet", "", tabular.Parquet},
		{"x.txt", "csv", tabular.CSV},
		{"x.csv", "Parquet", tabular.Parquet},
	} {
		got, err := tabular.DetectFormat(tc.key, tc.explicit)
		if err != nil || got != tc.want {
			t.Errorf("DetectFormat(%q, %q) = %q, %v; want %q", tc.key, tc.explicit, got, err, tc.want)
		}
	}
	for _, tc := range [][2]string{{"x.txt", ""}, {"x.csv.gz", ""}, {"noext", ""}, {"x.csv", "xlsx"}} {
		if _, err := tabular.DetectFormat(tc[0], tc[1]); !errors.Is(err, tabular.ErrUnknownFormat) {
			t.Errorf("DetectFormat(%q, %q): %v, want ErrUnknownFormat", tc[0], tc[1], err)
		} else {
			t.Log(err)
		}
	}
}
