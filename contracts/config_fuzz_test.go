package contracts_test

import (
	"encoding/json"
	"errors"
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
)

// configKeys are the keys a *FieldError may name: every json key of Config,
// those of onnx under "onnx.", and job_id.
var configKeys = func() map[string]bool {
	keys := map[string]bool{"job_id": true}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			keys[prefix+name] = true
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
				walk(ft, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeFor[contracts.Config](), "")
	return keys
}()

// configSeeds are job configurations as JSON (the Job record's form).
var configSeeds = []string{
	`{"entry_script":"s.py","input":"in","output":"out"}`,
	`{"entry_script":"s.py","input":"s3://b/in","output":"s3://b/out","mini_batch_size":"25","include":["*.png","/top/*.txt"],"side_inputs":{"labels":"s3://b/l.txt"},"arguments":["--x","{side_inputs.labels}"]}`,
	`{"entry_script":"s.py","input":"data/t.csv","output":"out","mini_batch_size":"64KB","output_format":"csv","partition_keys":["user"],"partition_max_size":"1GB"}`,
	`{"entry_script":"s.py","input":"in","output":"out","partition_keys":["user"],"partition_format":"/{user}/{f}.wav"}`,
	`{"handler":"onnx","input":"in","output":"out","onnx":{"model":"m.onnx","preprocess":{"kind":"image","resize":"shorter_side","resize_to":256,"size":[224,224],"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]},"postprocess":{"kind":"topk","top_k":3}}}`,
	`{"handler":"onnx","input":"t.parquet","output":"out","onnx":{"model":"m.onnx","preprocess":{"kind":"tabular","columns":["a","b"],"scale":2,"mean":[1],"std":[2,3]}}}`,
	`{"entry_script":"s.py","input":"in","output":"out","error_threshold":-2,"allowed_failed_percent":100.5,"run_invocation_timeout":9223372036854775807}`,
	`{"entry_script":"s.py","input":"in","output":"out","output_action":"summary_only","append_row_file_name":"../x","logging_level":"debug","resource_monitor_interval":0}`,
	`{"entry_script":"s.py","input":"in","output":"out","include":["["],"side_inputs":{"a b":"x"}}`,
	`null`, `[]`, `{}`, `{"input":1}`,
}

// FuzzConfigValidate decodes a job configuration as a worker does from the
// Job record (JSON over the defaults), sets a few floats JSON cannot hold,
// and checks Validate: it never panics; an error is a *FieldError that
// wraps ErrInvalid and names a real key; and a configuration it accepts can
// be used as it stands: its sizes parse, its percentage is one, its
// timeouts are durations, and it travels in the Job record unchanged.
func FuzzConfigValidate(f *testing.F) {
	for _, s := range configSeeds {
		f.Add([]byte(s), 0.0, 0.0, uint8(0))
	}
	f.Fuzz(func(t *testing.T, data []byte, pct, scale float64, mask uint8) {
		c := contracts.DefaultConfig()
		if json.Unmarshal(data, &c) != nil {
			return
		}
		if mask&1 != 0 {
			c.AllowedFailedPercent = pct
		}
		if c.ONNX != nil && mask&2 != 0 {
			c.ONNX.Preprocess.Scale = scale
		}
		if c.ONNX != nil && mask&4 != 0 {
			c.ONNX.Preprocess.Mean = append(c.ONNX.Preprocess.Mean, scale)
		}
		checkValidate(t, c)
	})
}

// checkValidate checks Validate's result on c (see FuzzConfigValidate).
func checkValidate(t *testing.T, c contracts.Config) {
	t.Helper()
	err := c.Validate()
	if err != nil {
		var fe *contracts.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, contracts.ErrInvalid) || !configKeys[fe.Field] {
			t.Fatalf("Validate(%+v) = %v: want a *FieldError wrapping ErrInvalid that names a key", c, err)
		}
		return
	}
	if c.Tabular() || c.InputUndecided() {
		if n, err := c.BytesPerBatch(); err != nil || n <= 0 {
			t.Fatalf("accepted tabular mini_batch_size %q: %d, %v", c.MiniBatchSize, n, err)
		}
		if n, err := c.PartitionMaxBytes(); err != nil || n <= 0 {
			t.Fatalf("accepted partition_max_size %q: %d, %v", c.PartitionMaxSize, n, err)
		}
	} else if n, err := c.FilesPerBatch(); err != nil || n < 1 {
		t.Fatalf("accepted mini_batch_size %q: %d, %v", c.MiniBatchSize, n, err)
	}
	if !(c.AllowedFailedPercent >= 0 && c.AllowedFailedPercent <= 100) {
		t.Fatalf("accepted allowed_failed_percent %v", c.AllowedFailedPercent)
	}
	for _, n := range []int{c.RunInvocationTimeout, c.ResourceMonitorInterval} {
		if d := time.Duration(n) * time.Second; d < 0 || int(d/time.Second) != n {
			t.Fatalf("accepted %d seconds, which overflow a duration (%v)", n, d)
		}
	}
	for _, p := range c.Include {
		if _, err := path.Match(p, "x"); err != nil {
			t.Fatalf("accepted include %q: %v", p, err)
		}
	}
	// The Job record carries it to the workers as JSON: nothing may be
	// lost or changed on the way.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("accepted configuration does not encode: %v\n%+v", err, c)
	}
	var back contracts.Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	if !reflect.DeepEqual(normalize(c), normalize(back)) {
		t.Fatalf("accepted configuration changes on the wire:\n%+v\n%+v", c, back)
	}
}

// normalize drops the difference JSON does not keep between empty and
// missing lists and maps.
func normalize(c contracts.Config) contracts.Config {
	nilIfEmpty := func(s *[]string) {
		if len(*s) == 0 {
			*s = nil
		}
	}
	nilIfEmpty(&c.Arguments)
	nilIfEmpty(&c.Include)
	nilIfEmpty(&c.PartitionKeys)
	if len(c.SideInputs) == 0 {
		c.SideInputs = nil
	}
	if c.ONNX != nil {
		o := *c.ONNX
		if len(o.DeviceIDs) == 0 {
			o.DeviceIDs = nil
		}
		if len(o.Preprocess.Size) == 0 {
			o.Preprocess.Size = nil
		}
		if len(o.Preprocess.Mean) == 0 {
			o.Preprocess.Mean = nil
		}
		if len(o.Preprocess.Std) == 0 {
			o.Preprocess.Std = nil
		}
		nilIfEmpty(&o.Preprocess.Columns)
		c.ONNX = &o
	}
	return c
}

// FuzzFilesPerBatch checks mini_batch_size as a count of files: a count is
// at least 1 and is the number given; anything else is a *FieldError on
// mini_batch_size.
func FuzzFilesPerBatch(f *testing.F) {
	for _, s := range []string{"", " ", "10", " 7 ", "0", "-3", "1.5", "64KB", "9223372036854775807", "9223372036854775808", "+4", "0x10", "١"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := contracts.Config{MiniBatchSize: s}
		n, err := c.FilesPerBatch()
		if err != nil {
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || fe.Field != "mini_batch_size" || !errors.Is(err, contracts.ErrInvalid) {
				t.Fatalf("FilesPerBatch(%q): %v, want a *FieldError on mini_batch_size", s, err)
			}
			return
		}
		want := contracts.DefaultFilesPerBatch
		if strings.TrimSpace(s) != "" {
			var perr error
			want, perr = strconv.Atoi(strings.TrimSpace(s))
			if perr != nil {
				t.Fatalf("FilesPerBatch(%q) = %d, but it is not a number: %v", s, n, perr)
			}
		}
		if n < 1 || n != want {
			t.Fatalf("FilesPerBatch(%q) = %d, want %d", s, n, want)
		}
	})
}

// FuzzSplitSingleFileInput checks that an input naming one tabular file
// becomes its folder plus an include pattern that matches that file's key
// and no other key (whatever bytes its name holds), and stays tabular.
func FuzzSplitSingleFileInput(f *testing.F) {
	for _, in := range []string{
		"s3://b/tables/sales.csv", "s3://b/x[1].parquet", "data/t.jsonl", "t.csv", "/abs/dir/T.PQ", "data/",
		"s3://only.csv", `s3://b/a*b?.csv`, `data/back\slash.ndjson`, "s3://b//x.csv",
	} {
		f.Add(in, "old/"+path.Base(in))
	}
	f.Fuzz(func(t *testing.T, input, other string) {
		c := contracts.Config{Input: input}
		tabular := c.Tabular()
		c.SplitSingleFileInput()
		if c.Tabular() != tabular {
			t.Fatalf("%q: tabular %v before the split, %v after", input, tabular, c.Tabular())
		}
		if c.Input == input {
			if len(c.Include) != 0 {
				t.Fatalf("%q: left as it is, but include set to %q", input, c.Include)
			}
			return
		}
		base := input[strings.LastIndex(input, "/")+1:]
		if dir := strings.TrimSuffix(input, "/"+base); c.Input != dir && c.Input != path.Dir(input) {
			t.Fatalf("%q split into folder %q, want %q", input, c.Input, dir)
		}
		if c.InputFormat != contracts.InputFormatAuto {
			t.Fatalf("%q: input_format %q, want auto", input, c.InputFormat)
		}
		if !c.Included(base) {
			t.Fatalf("%q: include %q does not match the file's key %q", input, c.Include, base)
		}
		if other != base && c.Included(other) {
			t.Fatalf("%q: include %q matches %q as well as %q", input, c.Include, other, base)
		}
	})
}

// FuzzIncluded checks include patterns as the documentation states them:
// Included never panics, even on a pattern Validate refuses; a pattern
// without "/" matches a key's base name at any depth; and a pattern with a
// leading "/" matches from the input root only.
func FuzzIncluded(f *testing.F) {
	for _, s := range [][3]string{
		{"*.png", "a.png", "x/y"}, {"/t.csv", "t.csv", "old"}, {"2024/*/*.json", "2024/01/a.json", "z"}, {"[", "a", "b"},
		{`\*`, "*", "d"}, {"?", "é", "a//b"}, {"[^a]*", "\xffx", "q"}, {"/*", "k", "d"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, pattern, key, dir string) {
		c := contracts.Config{Include: []string{pattern}}
		got := c.Included(key)
		if _, err := path.Match(pattern, ""); err != nil {
			return // Validate refuses it
		}
		if key == "" || strings.Contains(key, "/") {
			return
		}
		deep := c.Included(dir + "/" + key)
		switch {
		case !strings.Contains(pattern, "/") && deep != got:
			t.Fatalf("%q matches %q: %v, but %q: %v", pattern, key, got, dir+"/"+key, deep)
		case pattern == "/"+key && !strings.ContainsAny(key, `*?[\`) && (!got || deep && dir != ""):
			t.Fatalf("%q matches %q: %v, and %q: %v", pattern, key, got, dir+"/"+key, deep)
		}
	})
}
