package contracts

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Kind is the type of a setting's value.
type Kind int

// The kinds of settings.
const (
	KindText    Kind = iota // a string; Values, when set, enumerate it
	KindInt                 // a whole number within [Min, Max]
	KindFloat               // a finite number within [Min, Max]
	KindBool                // true or false
	KindTexts               // a list of strings
	KindInts                // a list of whole numbers, each within [Min, Max]
	KindFloats              // a list of finite numbers, each within [Min, Max]
	KindTextMap             // NAME: string pairs
)

// Setting is one job setting. [Settings] lists them all: that one table
// drives the YAML keys and the command-line flags (internal/jobconfig), the
// flags' help with ranges and defaults, the overrides, and the range and
// value checks of [Config.Validate]. Defaults live in [DefaultConfig] alone.
type Setting struct {
	// Key is the YAML key, dotted under a section ("onnx.preprocess.kind").
	Key string
	// Flag is the command-line flag without its dashes: "" for Key in
	// kebab-case ("onnx-preprocess-kind"), "-" for none.
	Flag string
	// Help says what the setting means; the flag's help adds the range or
	// the valid values, and the default.
	Help string
	// Min and Max bound a number (each element of a list of numbers).
	Min, Max float64
	// Unit names what a number counts ("seconds"), in help and messages.
	Unit string
	// ZeroDefault marks a setting whose zero value (0, "") means "not set,
	// take the default": neither bounds nor Values apply to it.
	ZeroDefault bool
	// Values are the valid values of an enumerated text, in their canonical
	// spelling. They are matched without regard to case when read from YAML
	// or flags, and stored canonical; Validate wants them canonical.
	Values []string
	// Extensible marks Values as the built-in ones of a name that the Go API
	// extends (a handler plugged into consumer.Config.Handlers): Check, and
	// so YAML and flags, accept Values alone; Validate also accepts another
	// name of letters, digits, '_' and '-'.
	Extensible bool
	// Comma makes one flag value of a list hold comma-separated elements
	// (--partition-keys a,b); otherwise each occurrence adds one element.
	Comma bool

	field field
}

// field reaches a setting's value in a Config; get returns nil when the
// setting's section is absent and alloc is false.
type field struct {
	kind Kind
	get  func(c *Config, alloc bool) any
}

// value lists the Go types that settings hold.
type value interface {
	string | int | float64 | bool | []string | []int | []float64 | map[string]string
}

func kindOf[T value]() Kind {
	var z T
	switch any(z).(type) {
	case string:
		return KindText
	case int:
		return KindInt
	case float64:
		return KindFloat
	case bool:
		return KindBool
	case []string:
		return KindTexts
	case []int:
		return KindInts
	case []float64:
		return KindFloats
	}
	return KindTextMap
}

// top is the field of a top-level key.
func top[T value](f func(*Config) *T) field {
	return field{kind: kindOf[T](), get: func(c *Config, _ bool) any { return f(c) }}
}

// inONNX is the field of a key under onnx:, which it creates when alloc is set.
func inONNX[T value](f func(*ONNXConfig) *T) field {
	return field{kind: kindOf[T](), get: func(c *Config, alloc bool) any {
		if c.ONNX == nil {
			if !alloc {
				return nil
			}
			c.ONNX = &ONNXConfig{}
		}
		return f(c.ONNX)
	}}
}

// Kind is the type of the setting's value.
func (s *Setting) Kind() Kind { return s.field.kind }

// FlagName is the setting's command-line flag without dashes, "" for none.
func (s *Setting) FlagName() string {
	switch s.Flag {
	case "-":
		return ""
	case "":
		return strings.NewReplacer("_", "-", ".", "-").Replace(s.Key)
	}
	return s.Flag
}

// Settings returns the table of job settings, in the order of the README.
func Settings() []Setting { return append([]Setting(nil), settings...) }

// LookupSetting returns the setting of a (dotted) key.
func LookupSetting(key string) (Setting, bool) {
	i, ok := settingIndex[key]
	if !ok {
		return Setting{}, false
	}
	return settings[i], true
}

// IsSection reports whether key holds settings of its own ("onnx",
// "onnx.preprocess").
func IsSection(key string) bool { return sections[key] }

// SettingKeys returns every key, sorted: the known names that a misspelt
// key is compared with.
func SettingKeys() []string {
	keys := make([]string, 0, len(settings)+len(sections))
	for _, s := range settings {
		keys = append(keys, s.Key)
	}
	for k := range sections {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	settingIndex = map[string]int{}
	sections     = map[string]bool{}
)

func init() {
	flags := map[string]bool{}
	for i, s := range settings {
		if _, dup := settingIndex[s.Key]; dup {
			panic("contracts: setting " + s.Key + " is listed twice")
		}
		if f := s.FlagName(); f != "" {
			if flags[f] {
				panic("contracts: flag --" + f + " is given to two settings")
			}
			flags[f] = true
		}
		settingIndex[s.Key] = i
		for k := s.Key; strings.Contains(k, "."); {
			k = k[:strings.LastIndex(k, ".")]
			sections[k] = true
		}
	}
}

// Describe says which values the setting takes: "1 to 259200 seconds",
// "one of csv, jsonl, parquet, auto", or "" when any value of its type does.
func (s *Setting) Describe() string {
	switch s.Kind() {
	case KindInt, KindFloat, KindInts, KindFloats:
		if s.Min <= -math.MaxFloat64 && s.Max >= math.MaxFloat64 {
			return "a finite number"
		}
		d := num(s.Min) + " to " + num(s.Max)
		if s.Unit != "" {
			d += " " + s.Unit
		}
		if s.ZeroDefault {
			d += " (0: the default)"
		}
		return d
	case KindText:
		if len(s.Values) > 0 {
			return "one of " + strings.Join(s.Values, ", ")
		}
	}
	return ""
}

// num writes a bound as the README does: 2147483647, not 2.147483647e+09.
func num(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprint(f)
}

// Text is the setting's value in c as text, "" when it is not set: how the
// flags show a default.
func (s *Setting) Text(c *Config) string {
	switch p := s.field.get(c, false).(type) {
	case *string:
		return *p
	case *int:
		if *p == 0 && s.ZeroDefault {
			return ""
		}
		return fmt.Sprint(*p)
	case *float64:
		if *p == 0 && s.ZeroDefault {
			return ""
		}
		return fmt.Sprint(*p)
	case *bool:
		return fmt.Sprint(*p)
	case *[]string:
		return strings.Join(*p, ",")
	case *[]int:
		return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(*p)), ","), "[]")
	case *[]float64:
		return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(*p)), ","), "[]")
	}
	return ""
}
