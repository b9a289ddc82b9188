package partition_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// TestListSourcesFormats: each object's format comes from its name when
// input_format is auto (in any case and spacing, as the settings take it)
// or unset, and from input_format otherwise, for the producer and prs debug
// alike.
func TestListSourcesFormats(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"a.csv", "b.parquet", "c.ndjson"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in, err := objstore.Open(context.Background(), dir, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	byName := []tabular.Format{tabular.CSV, tabular.Parquet, tabular.JSONL}
	for _, tc := range []struct {
		format string
		want   []tabular.Format
	}{
		{"", byName},
		{"auto", byName},
		{" Auto ", byName},
		{" JSONL", []tabular.Format{tabular.JSONL, tabular.JSONL, tabular.JSONL}},
	} {
		c := contracts.DefaultConfig()
		c.InputFormat = tc.format
		srcs, err := partition.ListSources(context.Background(), &c, in)
		if err != nil || len(srcs) != len(tc.want) {
			t.Fatalf("input_format %q: %d sources, %v; want %d", tc.format, len(srcs), err, len(tc.want))
		}
		for i, s := range srcs {
			if s.Format != tc.want[i] {
				t.Errorf("input_format %q: %s is %s, want %s", tc.format, s.Info.Key, s.Format, tc.want[i])
			}
		}
	}
}
