package contracts_test

import (
	"errors"
	"path"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func TestSplitSingleFileInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		input, format          string
		wantInput, wantInclude string
		wantFormat             string
	}{
		{"s3://b/tables/sales.csv", "", "s3://b/tables", "/sales.csv", "auto"},
		{"s3://b/x[1].parquet", "parquet", "s3://b", `/x\[1].parquet`, "parquet"},
		{"data/t.jsonl", "", "data", "/t.jsonl", "auto"},
		{"data/", "", "data/", "", ""},
		{"data/images", "", "data/images", "", ""},
		{"s3://only.csv", "", "s3://only.csv", "", ""},
	} {
		c := contracts.DefaultConfig()
		c.Input, c.InputFormat = tc.input, tc.format
		c.SplitSingleFileInput()
		include := ""
		if len(c.Include) == 1 {
			include = c.Include[0]
		}
		if c.Input != tc.wantInput || include != tc.wantInclude || c.InputFormat != tc.wantFormat && tc.wantInclude != "" {
			t.Errorf("%s: input %q include %q format %q; want %q %q %q", tc.input, c.Input, c.Include, c.InputFormat, tc.wantInput, tc.wantInclude, tc.wantFormat)
		}
		if tc.wantInclude != "" && (!c.Included(path.Base(tc.input)) || c.Included("old/"+path.Base(tc.input))) {
			t.Errorf("%s: the include pattern %q does not match the file alone", tc.input, c.Include)
		}
	}
}

func TestTabularValidation(t *testing.T) {
	t.Parallel()
	base := contracts.DefaultConfig()
	base.Input, base.Output, base.EntryScript = "in", "out", "s.py"
	for _, tc := range []struct {
		name  string
		edit  func(*contracts.Config)
		field string
	}{
		{"size unit", func(c *contracts.Config) { c.InputFormat, c.MiniBatchSize = "csv", "12XB" }, "mini_batch_size"},
		{"a size for files by their folders", func(c *contracts.Config) {
			c.MiniBatchSize, c.PartitionKeys, c.PartitionFormat = "64KB", []string{"u"}, "/{u}/{f}"
		}, "input_format"},
		{"input format", func(c *contracts.Config) { c.InputFormat = "xlsx" }, "input_format"},
		{"output format", func(c *contracts.Config) { c.OutputFormat = "xml" }, "output_format"},
		{"keys without format", func(c *contracts.Config) { c.PartitionKeys = []string{"user"} }, "partition_format"},
		{"format without keys", func(c *contracts.Config) { c.PartitionFormat = "/{user}/{f}.wav" }, "partition_keys"},
		{"tabular with path format", func(c *contracts.Config) {
			c.InputFormat, c.PartitionKeys, c.PartitionFormat = "csv", []string{"u"}, "/{u}/{f}"
		}, "partition_format"},
		{"group size", func(c *contracts.Config) { c.InputFormat, c.PartitionMaxSize = "csv", "lots" }, "partition_max_size"},
	} {
		c := base
		tc.edit(&c)
		var fe *contracts.FieldError
		if err := c.Validate(); err == nil || !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error of %s", tc.name, err, tc.field)
		}
	}
	ok := base
	ok.InputFormat, ok.MiniBatchSize, ok.OutputFormat, ok.PartitionKeys = "auto", "64KB", "parquet", []string{"user"}
	if err := ok.Validate(); err != nil {
		t.Errorf("a tabular job with partition_keys: %v", err)
	}
	if n, _ := ok.BytesPerBatch(); n != 64<<10 {
		t.Errorf("BytesPerBatch = %d", n)
	}
	ok.MiniBatchSize = ""
	if n, _ := ok.BytesPerBatch(); n != contracts.DefaultPieceSize {
		t.Errorf("default BytesPerBatch = %d", n)
	}
	files := base
	if n, _ := files.FilesPerBatch(); n != 10 {
		t.Errorf("default FilesPerBatch = %d", n)
	}
}
