package jobconfig_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/jobconfig"
)

// FuzzLoad loads any bytes as a job file. Load never panics; it refuses a
// file with settings in a second YAML document that it would not read; and what it loads is either refused by
// Validate with a *FieldError naming a key, or usable as it stands and
// carried unchanged by the Job record.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"quickstart/job.yaml", "digits/job.yaml", "digits/job-tabular.yaml", "tabular/job.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"entry_script: s.py\ninput: in\noutput: out\n",
		"entry_script: s.py\ninput: in\noutput: out\nmini_batch_size: 99999999999999999999\n",
		"entry_script: s.py\ninput: in\noutput: out\nerror_threshold: 1e3\n",
		"entry_script: s.py\ninput: in\noutput: out\nallowed_failed_percent: .inf\n",
		"entry_script: s.py\ninput: in\noutput: out\nrun_max_try: 0x10\nallow_reuse: yes\n",
		"entry_script: s.py\ninput: in\noutput: out\ninclude: ['*.png', '[']\n",
		"a: &a [1, 2]\nb: *a\n", "input: [1, 2]\n", "{", "\t", "inptu: x\n", "---\n", "~\n",
		"handler: onnx\ninput: in\noutput: out\nonnx:\n  model: m.onnx\n  preprocess:\n    mean: [1, .nan]\n",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "job.yaml") // one per fuzzing process, which runs inputs one at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		var (
			c   contracts.Config
			err error
		)
		within(t, "Load", data, func() { c, _, err = jobconfig.Load(path) })
		if err != nil {
			return
		}
		var later int
		within(t, "laterDocument", data, func() { later = laterDocument(data) })
		if later > 0 {
			t.Fatalf("Load(%q) read the first YAML document and ignored document %d", data, later+1)
		}
		checkConfig(t, c)
	})
}

// within runs fn, and fails the test when it takes more than ten seconds
// (the fuzzing engine reports no hang by itself).
func within(t *testing.T, what string, data []byte, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s(%q) did not return within 10s", what, data)
	}
}

// laterDocument returns the index of the first YAML document of data after
// the first one that holds something, or 0.
func laterDocument(data []byte) int {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 0; ; i++ {
		var v yaml.Node
		if err := dec.Decode(&v); err != nil {
			return 0
		}
		if i > 0 && len(v.Content) > 0 && !(v.Content[0].Kind == yaml.ScalarNode && v.Content[0].Tag == "!!null") {
			return i
		}
	}
}

// flagNames are the job flags that set a key, --config aside.
var flagNames = func() []string {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	jobconfig.Register(fs)
	var names []string
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "config" {
			names = append(names, fl.Name)
		}
	})
	return names
}()

// keyOfFlag is the key a flag sets.
func keyOfFlag(name string) string {
	for _, s := range contracts.Settings() {
		if s.FlagName() == name {
			return s.Key
		}
	}
	return name
}

// FuzzFlags sets two job flags to any values on top of a minimal job file.
// Config never panics: it returns a *FieldError naming the key of a flag
// that was set, or a configuration with the same properties as FuzzLoad's.
func FuzzFlags(f *testing.F) {
	index := func(name string) uint8 {
		for i, n := range flagNames {
			if n == name {
				return uint8(i)
			}
		}
		f.Fatalf("no flag --%s", name)
		return 0
	}
	for _, s := range []struct {
		a, va, b, vb string
	}{
		{"mini-batch-size", "10", "input", "data/t.csv"},
		{"error-threshold", "x", "run-max-try", "3"},
		{"allowed-failed-percent", "NaN", "logging-level", "debug"},
		{"allowed-failed-percent", "1e400", "allow-reuse", "maybe"},
		{"run-invocation-timeout", "9223372036854775807", "resource-monitor-interval", "-1"},
		{"side-input", "labels=s3://b/l.txt", "side-input", "no-equals"},
		{"include", "[", "partition-keys", " a, ,b "},
		{"input", "s3://b/x[1].parquet", "output-format", "parquet"},
		{"handler", "onnx", "process-count-per-node", "0x10"},
		{"input", "bad\xffname", "side-input", "m=s3://b/\xc3"},
	} {
		f.Add(index(s.a), s.va, index(s.b), s.vb)
	}
	yamlPath := filepath.Join(f.TempDir(), "job.yaml")
	if err := os.WriteFile(yamlPath, []byte("entry_script: s.py\ninput: in\noutput: out\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a uint8, va string, b uint8, vb string) {
		fa, fb := flagNames[int(a)%len(flagNames)], flagNames[int(b)%len(flagNames)]
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		flags := jobconfig.Register(fs)
		if err := fs.Parse([]string{"--config", yamlPath, "--" + fa + "=" + va, "--" + fb + "=" + vb}); err != nil {
			t.Fatalf("--%s=%q --%s=%q: %v", fa, va, fb, vb, err)
		}
		c, err := flags.Config(nil)
		if err != nil {
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, contracts.ErrInvalid) || (fe.Field != keyOfFlag(fa) && fe.Field != keyOfFlag(fb)) {
				t.Fatalf("--%s=%q --%s=%q: %v, want a *FieldError naming %s or %s", fa, va, fb, vb, err, keyOfFlag(fa), keyOfFlag(fb))
			}
			return
		}
		checkConfig(t, c)
	})
}

// checkConfig checks a loaded configuration: Validate refuses it with a
// *FieldError that wraps ErrInvalid and names a key, or accepts a
// configuration whose numbers are usable and that the Job record (JSON)
// carries unchanged.
func checkConfig(t *testing.T, c contracts.Config) {
	t.Helper()
	if err := c.Validate(); err != nil {
		var fe *contracts.FieldError
		if !errors.As(err, &fe) || !errors.Is(err, contracts.ErrInvalid) || fe.Field == "" {
			t.Fatalf("Validate: %v, want a *FieldError naming a key", err)
		}
		return
	}
	if !(c.AllowedFailedPercent >= 0 && c.AllowedFailedPercent <= 100) {
		t.Fatalf("accepted allowed_failed_percent %v", c.AllowedFailedPercent)
	}
	for _, n := range []int{c.RunInvocationTimeout, c.ResourceMonitorInterval} {
		if d := time.Duration(n) * time.Second; d < 0 || int(d/time.Second) != n {
			t.Fatalf("accepted %d seconds, which overflow a duration", n)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatalf("accepted configuration does not encode: %v\n%+v", err, c)
	}
	var back contracts.Config
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	b2, _ := json.Marshal(back)
	if !bytes.Equal(b, b2) || !sameStrings(c, back) {
		t.Fatalf("accepted configuration changes in the Job record:\n%+v\n%+v", c, back)
	}
}

// sameStrings compares the string settings that JSON would mangle (text
// that is not UTF-8) in c and d.
func sameStrings(c, d contracts.Config) bool {
	return reflect.DeepEqual(stringsOf(reflect.ValueOf(c)), stringsOf(reflect.ValueOf(d)))
}

// stringsOf lists every string held by v, map keys included, in a stable
// order.
func stringsOf(v reflect.Value) []string {
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			out = append(out, v.String())
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		case reflect.Slice:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			keys := v.MapKeys()
			ks := make([]string, len(keys))
			for i, k := range keys {
				ks[i] = k.String()
			}
			slices.Sort(ks)
			for _, k := range ks {
				out = append(out, k, v.MapIndex(reflect.ValueOf(k)).String())
			}
		}
	}
	walk(v)
	return out
}
