package contracts

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

// jsonPaths maps the address of every JSON field of v (a pointer to a
// struct), nested structs included, to its dotted JSON name.
func jsonPaths(v reflect.Value, prefix string, out map[uintptr]string) {
	v = v.Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct:
			jsonPaths(fv.Addr(), prefix+name+".", out)
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Struct:
			fv.Set(reflect.New(fv.Type().Elem()))
			jsonPaths(fv, prefix+name+".", out)
		default:
			out[fv.Addr().Pointer()] = prefix + name
		}
	}
}

// TestTableCoversConfig: every setting's key is the JSON name of the field
// it reaches, and every field of Config (and of its onnx section) has a
// setting, so that a key added to Config without a line in the table fails
// here.
func TestTableCoversConfig(t *testing.T) {
	t.Parallel()
	c := &Config{}
	paths := map[uintptr]string{}
	jsonPaths(reflect.ValueOf(c), "", paths)
	covered := map[string]bool{}
	for _, s := range Settings() {
		p := reflect.ValueOf(s.field.get(c, true)).Pointer()
		if paths[p] != s.Key {
			t.Errorf("setting %s reaches the field %q", s.Key, paths[p])
		}
		covered[s.Key] = true
	}
	for _, p := range paths {
		if !covered[p] {
			t.Errorf("Config's field %s has no setting in the table", p)
		}
	}
}

// TestEveryNumberIsRangeChecked gives every numeric setting, through the
// same parser that YAML and flags use, values beyond its limits, beyond
// 64 bits, and not numbers at all: each is refused with a message that
// names the key and the limit.
func TestEveryNumberIsRangeChecked(t *testing.T) {
	t.Parallel()
	for _, s := range Settings() {
		if s.Kind() != KindInt && s.Kind() != KindFloat && s.Kind() != KindInts && s.Kind() != KindFloats {
			continue
		}
		bounded := s.Max < math.MaxFloat64
		whole := s.Kind() == KindInt || s.Kind() == KindInts
		cases := map[string]string{
			"abc":  "not a",
			"NaN":  "not a finite number",
			".nan": "not a finite number",
		}
		if whole {
			cases["NaN"], cases[".nan"], cases[".inf"], cases["2.5"] = "not a whole number", "not a whole number", "not a whole number", "not a whole number"
		}
		if bounded {
			cases[num(s.Max+1)] = "too large, at most " + num(s.Max)
			cases["9223372036854775807"] = "too large, at most " + num(s.Max)
			cases["99999999999999999999"] = "too large, at most " + num(s.Max)
			cases["1e30"] = "too large, at most " + num(s.Max)
			if !whole {
				cases[".inf"] = "too large, at most " + num(s.Max)
			}
			cases["-99999999999999999999"] = "too small, at least " + num(s.Min)
			if lo := s.Min - 1; lo != 0 {
				cases[num(lo)] = "too small, at least " + num(s.Min)
			}
		}
		for text, want := range cases {
			c := DefaultConfig()
			err := setOne(&s, &c, text)
			if err == nil {
				err = s.Check(&c)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != s.Key || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
				t.Errorf("%s = %s: %v, want an error of %s saying %q", s.Key, text, err, s.Key, want)
			}
		}
		c := DefaultConfig()
		if err := setOne(&s, &c, num(s.Max)); err != nil || s.Check(&c) != nil {
			t.Errorf("%s = %s (its maximum) is refused: %v %v", s.Key, num(s.Max), err, s.Check(&c))
		}
	}
}

func setOne(s *Setting, c *Config, text string) error {
	if k := s.Kind(); k == KindInts || k == KindFloats {
		return s.Append(c, text)
	}
	return s.Set(c, text)
}

// TestEveryEnumerationListsItsValues: a wrong value of every enumerated
// setting names the key and every valid value; any case of a valid value
// is read as its canonical spelling.
func TestEveryEnumerationListsItsValues(t *testing.T) {
	t.Parallel()
	n := 0
	for _, s := range Settings() {
		if len(s.Values) == 0 {
			continue
		}
		n++
		c := DefaultConfig()
		if err := s.Set(&c, "bogus"); err != nil {
			t.Fatal(err)
		}
		err := s.Check(&c)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != s.Key || !strings.Contains(err.Error(), strings.Join(s.Values, ", ")) {
			t.Errorf("%s = bogus: %v", s.Key, err)
		}
		for _, v := range s.Values {
			c := DefaultConfig()
			for _, spelt := range []string{strings.ToUpper(v), strings.ToLower(v), " " + v + " "} {
				if err := s.Set(&c, spelt); err != nil || s.Check(&c) != nil || s.Text(&c) != v {
					t.Errorf("%s = %q: %v %v, stored %q", s.Key, spelt, err, s.Check(&c), s.Text(&c))
				}
			}
		}
	}
	if n < 13 {
		t.Fatalf("only %d enumerated settings", n)
	}
	c := DefaultConfig()
	c.Handler, c.Input, c.Output = "onnxx", "in", "out"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "did you mean onnx?") {
		t.Fatalf("handler onnxx: %v", err)
	}
	// A handler plugged in through the Go API passes Validate, not YAML or flags.
	c.Handler = "my_scorer"
	s, _ := LookupSetting("handler")
	if err := c.Validate(); err != nil || s.Check(&c) == nil {
		t.Fatalf("handler my_scorer: Validate %v, Check %v", err, s.Check(&c))
	}
	c.Handler = "bad name"
	if err := c.Validate(); err == nil {
		t.Fatal("handler \"bad name\" passes Validate")
	}
}

func TestValidateRefusesOverflowsAndNaN(t *testing.T) {
	t.Parallel()
	base := DefaultConfig()
	base.EntryScript, base.Input, base.Output = "s.py", "in", "out"
	for field, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"run_invocation_timeout": {func(c *Config) { c.RunInvocationTimeout = math.MaxInt64 }, "too large, at most 259200 seconds"},
		"allowed_failed_percent": {func(c *Config) { c.AllowedFailedPercent = math.NaN() }, "not a finite number"},
		"node_count":             {func(c *Config) { c.NodeCount = 0 }, "too small, at least 1"},
		"onnx.preprocess.scale":  {func(c *Config) { c.ONNX = &ONNXConfig{Preprocess: Preprocess{Scale: math.Inf(1)}} }, "not a finite number"},
		"onnx.device_ids":        {func(c *Config) { c.ONNX = &ONNXConfig{DeviceIDs: []int{0, -1}} }, "element 2: -1 is too small, at least 0"},
		"mini_batch_size":        {func(c *Config) { c.MiniBatchSize = "99999999999999999999" }, "too large, at most 10000 files"},
		"partition_max_size":     {func(c *Config) { c.InputFormat, c.PartitionMaxSize = "csv", "2TB" }, "too large, at most 1TB"},
	} {
		c := base
		tc.edit(&c)
		err := c.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", field, err, tc.want)
		}
	}
	c := base
	c.InputFormat, c.MiniBatchSize = "csv", "9999999999999TB"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "too large, at most 1TB") {
		t.Errorf("a tabular mini_batch_size beyond 64 bits: %v", err)
	}
}

func TestFlagNamesAndDescriptions(t *testing.T) {
	t.Parallel()
	for key, want := range map[string][2]string{
		"mini_batch_size":        {"mini-batch-size", ""},
		"side_inputs":            {"side-input", ""},
		"arguments":              {"", ""},
		"onnx.preprocess.kind":   {"onnx-preprocess-kind", "one of image, npy, tabular"},
		"run_invocation_timeout": {"run-invocation-timeout", "1 to 259200 seconds"},
		"error_threshold":        {"error-threshold", "-1 to 2147483647"},
	} {
		s, ok := LookupSetting(key)
		if !ok || s.FlagName() != want[0] || s.Describe() != want[1] {
			t.Errorf("%s: flag %q, %q", key, s.FlagName(), s.Describe())
		}
	}
	if !IsSection("onnx") || !IsSection("onnx.preprocess") || IsSection("input") {
		t.Error("sections")
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	keys := SettingKeys()
	for word, want := range map[string]string{
		"mini_batch_sise": "mini_batch_size", "mini-batch-size": "mini_batch_size", "inputs": "input",
		"nodecount": "node_count", "Handler": "handler", "zzz": "", "environment_vars": "",
	} {
		if got := Closest(word, keys); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
}

// ExampleSetting_Set shows how YAML and flag values become settings.
func ExampleSetting_Set() {
	c := DefaultConfig()
	s, _ := LookupSetting("run_invocation_timeout")
	fmt.Println(s.Set(&c, "9223372036854775807"), s.Check(&c))
	fmt.Println(s.Set(&c, "99999999999999999999"))
	l, _ := LookupSetting("logging_level")
	_ = l.Set(&c, "debug")
	fmt.Println(c.LoggingLevel)
	// Output:
	// <nil> run_invocation_timeout: invalid configuration: 9223372036854775807 is too large, at most 259200 seconds
	// run_invocation_timeout: invalid configuration: 99999999999999999999 is too large, at most 259200 seconds
	// DEBUG
}
