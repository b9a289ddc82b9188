package jobconfig

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// yamlOf writes one setting as YAML, nesting a dotted key in its sections.
func yamlOf(key, value string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		b.WriteString(strings.Repeat("  ", i) + p + ":")
		if i < len(parts)-1 {
			b.WriteString("\n")
		}
	}
	b.WriteString(" " + value + "\n")
	return b.String()
}

// flagsConfig parses args as prs run's job flags would.
func flagsConfig(t *testing.T, args ...string) (contracts.Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse(args); err != nil {
		return contracts.Config{}, err
	}
	return f.Config(nil)
}

// TestEveryNumericKeyFromYAMLAndFlags: each numeric setting, given out of
// range, beyond 64 bits, or not a number, from a YAML file and from its
// flag alike, is refused with a message naming the key and its limit.
func TestEveryNumericKeyFromYAMLAndFlags(t *testing.T) {
	t.Parallel()
	n := 0
	for _, s := range contracts.Settings() {
		list := s.Kind() == contracts.KindInts || s.Kind() == contracts.KindFloats
		if s.Kind() != contracts.KindInt && s.Kind() != contracts.KindFloat && !list {
			continue
		}
		n++
		limit := func(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.0f", f), ".") }
		cases := map[string]string{"many": "not a"}
		if s.Max < math.MaxFloat64 {
			cases["9223372036854775807"] = "too large, at most " + limit(s.Max)
			cases["99999999999999999999"] = "too large, at most " + limit(s.Max)
			cases[limit(s.Max+1)] = "too large, at most " + limit(s.Max)
			cases["-99999999999999999999"] = "too small, at least " + limit(s.Min)
		} else {
			cases[".nan"] = "not a finite number"
		}
		for text, want := range cases {
			yv := text
			if list {
				yv = "[" + text + "]"
			}
			_, _, err := Parse([]byte(yamlOf(s.Key, yv)))
			checkFieldErr(t, "yaml "+s.Key+": "+text, err, s.Key, want)
			if s.FlagName() != "" {
				_, err = flagsConfig(t, "--"+s.FlagName(), text)
				checkFieldErr(t, "--"+s.FlagName()+" "+text, err, s.Key, want)
			}
		}
	}
	if n < 16 {
		t.Fatalf("only %d numeric settings", n)
	}
}

func checkFieldErr(t *testing.T, what string, err error, field, want string) {
	t.Helper()
	var fe *contracts.FieldError
	if !errors.As(err, &fe) || fe.Field != field || !errors.Is(err, contracts.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v, want an error of %s saying %q", what, err, field, want)
	}
}

func TestHostileNumbersOfTheIssue(t *testing.T) {
	t.Parallel()
	for yaml, want := range map[string]string{
		"run_invocation_timeout: 9223372036854775807": "run_invocation_timeout: invalid configuration: 9223372036854775807 is too large, at most 259200 seconds",
		"mini_batch_size: 99999999999999999999":       "mini_batch_size: invalid configuration: 99999999999999999999 is too large, at most 10000 files",
		"error_threshold: 99999999999999999999":       "error_threshold: invalid configuration: 99999999999999999999 is too large, at most 2147483647",
		"allowed_failed_percent: .nan":                "allowed_failed_percent: invalid configuration: \".nan\" is not a finite number",
		"allowed_failed_percent: .inf":                "allowed_failed_percent: invalid configuration: .inf is too large, at most 100",
		"allowed_failed_percent: 100.5":               "allowed_failed_percent: invalid configuration: 100.5 is too large, at most 100",
		"run_max_try: 3.5":                            "run_max_try: invalid configuration: \"3.5\" is not a whole number",
		"process_count_per_node: [1, 2]":              "process_count_per_node: invalid configuration: must be a single value",
		"partition_keys: user":                        "partition_keys: invalid configuration: must be a list",
		"side_inputs: [a]":                            "side_inputs: invalid configuration: must be a mapping",
		"mini_batch_size: 1TB\ninput_format: csv":     "",
		"mini_batch_size: 2TB\ninput_format: csv":     "mini_batch_size: invalid size \"2TB\": too large, at most 1TB",
	} {
		c, _, err := Parse([]byte(yaml + "\ninput: in\noutput: out\nentry_script: s.py\n"))
		if err == nil {
			err = c.Validate()
		}
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", yaml, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s:\n got %v\nwant %s", yaml, err, want)
		}
	}
}

// TestEnumerationsFromYAMLAndFlags: every enumerated setting refuses an
// unknown name at once, listing the valid ones, and reads any case.
func TestEnumerationsFromYAMLAndFlags(t *testing.T) {
	t.Parallel()
	for _, s := range contracts.Settings() {
		if len(s.Values) == 0 {
			continue
		}
		_, _, err := Parse([]byte(yamlOf(s.Key, "nonsense")))
		checkFieldErr(t, "yaml "+s.Key, err, s.Key, strings.Join(s.Values, ", "))
		_, err = flagsConfig(t, "--"+s.FlagName(), "nonsense")
		checkFieldErr(t, "--"+s.FlagName(), err, s.Key, strings.Join(s.Values, ", "))
		v := s.Values[len(s.Values)-1]
		c, err := flagsConfig(t, "--"+s.FlagName(), strings.ToUpper(v))
		if err != nil || s.Text(&c) != v {
			t.Errorf("--%s %s: %v, read %q", s.FlagName(), strings.ToUpper(v), err, s.Text(&c))
		}
	}
	_, err := flagsConfig(t, "--handler", "onnxx")
	if err == nil || !strings.Contains(err.Error(), `must be one of entry_script, onnx, got "onnxx" (did you mean onnx?)`) {
		t.Fatalf("--handler onnxx: %v", err)
	}
}

func TestListAndMapFlags(t *testing.T) {
	t.Parallel()
	c, err := flagsConfig(t, "--include", "*.png", "--include", "a/*.jpg", "--partition-keys", "user, genre", "--side-input", "m=s3://b/m",
		"--onnx-device-ids", "0,1", "--onnx-preprocess-mean", "0.5,0.25", "--allow-reuse", "false", "--onnx-postprocess-softmax", "yes")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Include, "|") != "*.png|a/*.jpg" || strings.Join(c.PartitionKeys, "|") != "user|genre" || c.SideInputs["m"] != "s3://b/m" ||
		fmt.Sprint(c.ONNX.DeviceIDs) != "[0 1]" || fmt.Sprint(c.ONNX.Preprocess.Mean) != "[0.5 0.25]" || c.AllowReuse || !c.ONNX.Postprocess.Softmax {
		t.Fatalf("%+v %+v", c, c.ONNX)
	}
	if _, err := flagsConfig(t, "--onnx-device-ids", "0,-1"); err == nil || !strings.Contains(err.Error(), "element 2: -1 is too small, at least 0") {
		t.Fatalf("--onnx-device-ids 0,-1: %v", err)
	}
}

func TestIgnoredKeysWarnOnceAndUnknownKeysSuggest(t *testing.T) {
	t.Parallel()
	c, warnings, err := Parse([]byte(`environment: myenv
compute_target: cpu-cluster
description: nightly scoring
node_count: 4
environment_variables: {A: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.NodeCount != 4 || len(warnings) != 3 || c.EnvironmentVariables["A"] != "1" {
		t.Fatalf("node_count %d, warnings %q", c.NodeCount, warnings)
	}
	for _, w := range warnings {
		if !strings.Contains(w, "prs ignores") {
			t.Errorf("warning %q does not say prs ignores the key", w)
		}
	}
	for yaml, want := range map[string]string{
		"mini_batch_sise: 3":            "mini_batch_sise: invalid configuration: unknown key (did you mean mini_batch_size?)",
		"inputs: [a]":                   "(did you mean input?)",
		"onnx:\n  modle: m.onnx":        "onnx.modle: invalid configuration: unknown key (did you mean onnx.model?)",
		"onnx:\n  preprocess: {knd: x}": "did you mean onnx.preprocess.kind?",
		"frobnicate: 1":                 "frobnicate: invalid configuration: unknown key",
		"input: a\ninput: b":            "line 2: input: invalid configuration: given twice",
		"- input: a":                    "must be a mapping of keys to values",
		"input: a\n---\ninput: b":       "more than one YAML document",
		"<<: {input: x}":                "merge keys are not supported",
		"onnx: [1]":                     "onnx: invalid configuration: must be a mapping",
	} {
		_, _, err := Parse([]byte(yaml))
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, contracts.ErrInvalid) {
			t.Errorf("%q: %v, want %q", yaml, err, want)
		}
	}
	_, _, err = Parse([]byte("mini_batch_sise: 3"))
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("an unknown key does not wrap ErrUnknownKey: %v", err)
	}
	if c, _, err := Parse([]byte("# nothing\n")); err != nil || c.RunMaxTry != 3 {
		t.Errorf("an empty file: %v", err)
	}
	if c, _, err := Parse([]byte("error_threshold: ~\nentry_script:\n")); err != nil || c.ErrorThreshold != -1 {
		t.Errorf("null keeps the default: %d %v", c.ErrorThreshold, err)
	}
}

// FuzzParse feeds the YAML decoder hostile documents: it must never panic,
// and what it accepts must stay within every setting's range.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"input: in\noutput: out\nentry_script: s.py\nmini_batch_size: 7\n",
		"run_invocation_timeout: 9223372036854775807\n",
		"onnx:\n  preprocess: {kind: image, size: [224, 224], mean: [0.5]}\n",
		"type: parallel\ninputs: {d: {type: uri_folder, path: ./in}}\ninput_data: ${{inputs.d}}\ntask: {program_arguments: '--x ${{inputs.d}}'}\n",
		"a: &a [*a]\n", "side_inputs: {m: [1]}\n", "allowed_failed_percent: .nan\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data)
		if err != nil {
			return
		}
		for _, s := range contracts.Settings() {
			if err := s.Check(&c); err != nil {
				t.Fatalf("accepted %q with %v", data, err)
			}
		}
	})
}
