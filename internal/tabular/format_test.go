package tabular_test

import (
	"errors"
	"testing"

	"github.com/parallelrun/prs/internal/tabular"
)

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
