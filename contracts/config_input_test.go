package contracts

import (
	"errors"
	"strings"
	"testing"
)

func TestFilesPerBatchMessages(t *testing.T) {
	t.Parallel()
	for size, want := range map[string]string{
		"99999999999999999999":  "too large, at most 10000 files",
		"-99999999999999999999": "too small, at least 1 file",
		"10001":                 "too large, at most 10000 files",
		"0":                     "too small, at least 1 file",
		"ten":                   `"ten" is not a whole number of files`,
		"1.5":                   `"1.5" is not a whole number of files`,
		"64KB":                  "set input_format",
	} {
		c := Config{Input: "in", MiniBatchSize: size}
		_, err := c.FilesPerBatch()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "mini_batch_size" || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", size, err, want)
		}
	}
	if n, err := (&Config{MiniBatchSize: " 10000 "}).FilesPerBatch(); n != 10000 || err != nil {
		t.Errorf("10000: %d %v", n, err)
	}
}

// TestResolveInputFormat is the rule of a folder given a size without
// input_format: tables only are tabular; anything else names input_format.
func TestResolveInputFormat(t *testing.T) {
	t.Parallel()
	base := DefaultConfig()
	base.Input, base.Output, base.EntryScript, base.MiniBatchSize = "in", "out", "s.py", "64KB"
	listing := func(keys ...string) InputListing {
		var l InputListing
		for _, k := range keys {
			l.Add(k)
		}
		return l
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Config)
		keys    []string
		tabular bool
		want    string // in the error; "" for none
	}{
		{name: "tables only", keys: []string{"a.csv", "b/c.JSONL", "d.parquet"}, tabular: true},
		{name: "files only", keys: []string{"a.png", "b.png"}, want: `its files are not tables (such as "a.png")`},
		{name: "mixed", keys: []string{"a.csv", "b.png"}, want: `mix tables (such as "a.csv") and other files (such as "b.png")`},
		{name: "a count stays files", edit: func(c *Config) { c.MiniBatchSize = "7" }, keys: []string{"a.csv"}},
		{name: "an explicit format is kept", edit: func(c *Config) { c.InputFormat = "csv" }, keys: []string{"a.txt"}, tabular: true},
		{name: "empty is left to the empty-input error", keys: nil},
		{name: "tabular onnx is checked once decided", edit: func(c *Config) {
			c.Handler, c.ONNX = HandlerONNX, &ONNXConfig{Model: "m.onnx"}
		}, keys: []string{"a.csv"}, tabular: true, want: "onnx.preprocess.kind"},
	} {
		c := base
		if tc.edit != nil {
			tc.edit(&c)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: Validate before the listing: %v", tc.name, err)
			continue
		}
		err := c.ResolveInputFormat(listing(tc.keys...))
		if c.Tabular() != tc.tabular {
			t.Errorf("%s: tabular %v", tc.name, c.Tabular())
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		case tc.want != "" && tc.want != "onnx.preprocess.kind" && !strings.Contains(err.Error(), "input_format"):
			t.Errorf("%s: %v does not name input_format", tc.name, err)
		}
	}
}
