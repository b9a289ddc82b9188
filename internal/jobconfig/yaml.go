package jobconfig

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/parallelrun/prs/contracts"
)

// ignoredKeys are ParallelRunConfig's (and ParallelRunStep's) keys that
// prs accepts and does not use, each with why: a configuration carried over
// as it is runs, with one warning for each.
var ignoredKeys = map[string]string{
	"environment":    "prs runs the entry script with interpreter (default python3) on each worker: install the script's packages there",
	"compute_target": "the workers are the machines that run prs worker (prs run: this one)",
	"description":    "prs keeps no description; name the job with --job-id",
	"name":           "ParallelRunStep's step name; prs names the job with --job-id",
}

// decodeMapping reads the keys of a mapping under prefix ("" or "onnx.")
// onto c through the settings table; sections recurse.
func decodeMapping(n *yaml.Node, prefix string, c *contracts.Config, d *decoded) error {
	if n.Kind != yaml.MappingNode {
		return lineErr(n, &contracts.FieldError{Field: strings.TrimSuffix(prefix, "."), Err: fmt.Errorf("%w: must be a mapping of keys to values", contracts.ErrInvalid)})
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		key := prefix + k.Value
		if k.Tag == "!!merge" {
			return lineErr(k, bad(prefix+"<<", "YAML merge keys are not supported: write the keys out"))
		}
		if seen[key] {
			return lineErr(k, &contracts.FieldError{Field: key, Err: fmt.Errorf("%w: given twice", contracts.ErrInvalid)})
		}
		seen[key] = true
		if s, ok := contracts.LookupSetting(key); ok {
			if err := setNode(&s, c, v); err != nil {
				return lineErr(v, err)
			}
			continue
		}
		if contracts.IsSection(key) {
			if !isNull(v) {
				if err := decodeMapping(v, key+".", c, d); err != nil {
					return err
				}
			}
			continue
		}
		if why, ok := ignoredKeys[key]; ok && prefix == "" {
			d.warn(key, "a ParallelRunConfig key that prs ignores: %s", why)
			continue
		}
		return lineErr(k, unknownKey(key, prefix, knownKeys(prefix)))
	}
	return nil
}

// knownKeys are the keys right under prefix, for suggestions.
func knownKeys(prefix string) []string {
	var keys []string
	seen := map[string]bool{}
	for _, k := range contracts.SettingKeys() {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		rest, _, _ = strings.Cut(rest, ".")
		if !seen[rest] {
			seen[rest] = true
			keys = append(keys, rest)
		}
	}
	if prefix == "" {
		for k := range ignoredKeys {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// unknownKey is the error of a key that is neither known nor ignored; it
// suggests the closest known key.
func unknownKey(key, prefix string, known []string) error {
	hint := ""
	if near := contracts.Closest(strings.TrimPrefix(key, prefix), known); near != "" {
		hint = fmt.Sprintf(" (did you mean %s%s?)", prefix, near)
	}
	return &contracts.FieldError{Field: key, Err: fmt.Errorf("%w: %w%s", contracts.ErrInvalid, ErrUnknownKey, hint)}
}

// setNode sets one setting from its YAML value; null leaves the default.
// The value's own range is checked at once, so that the error has its line.
func setNode(s *contracts.Setting, c *contracts.Config, v *yaml.Node) error {
	if isNull(v) {
		return nil
	}
	switch s.Kind() {
	case contracts.KindTexts, contracts.KindInts, contracts.KindFloats:
		if v.Kind != yaml.SequenceNode {
			return bad(s.Key, "must be a list, such as [a, b]")
		}
		s.Clear(c)
		for i, e := range v.Content {
			e = deref(e)
			if e.Kind != yaml.ScalarNode || isNull(e) {
				return bad(s.Key, "element %d must be a single value", i+1)
			}
			if err := s.Append(c, e.Value); err != nil {
				return err
			}
		}
	case contracts.KindTextMap:
		if v.Kind != yaml.MappingNode {
			return bad(s.Key, "must be a mapping of NAME: value")
		}
		s.Clear(c)
		for i := 0; i+1 < len(v.Content); i += 2 {
			name, val := deref(v.Content[i]), deref(v.Content[i+1])
			if val.Kind != yaml.ScalarNode || isNull(val) {
				return bad(s.Key, "%s must be a single value", name.Value)
			}
			if err := s.Put(c, name.Value, val.Value); err != nil {
				return err
			}
		}
	default:
		if v.Kind != yaml.ScalarNode {
			return bad(s.Key, "must be a single value, not a list or a mapping")
		}
		if err := s.Set(c, v.Value); err != nil {
			return err
		}
	}
	return s.Check(c)
}

func bad(key, format string, args ...any) error {
	return &contracts.FieldError{Field: key, Err: fmt.Errorf("%w: "+format, append([]any{contracts.ErrInvalid}, args...)...)}
}

// lineErr puts the YAML line of n before err.
func lineErr(n *yaml.Node, err error) error {
	return fmt.Errorf("line %d: %w", n.Line, err)
}

// deref follows an alias to its anchored node.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// isNull reports an absent value: ~, null or nothing.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// lookup returns the value of key in a mapping, or nil.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if deref(m.Content[i]).Value == key {
			return deref(m.Content[i+1])
		}
	}
	return nil
}
