// Package jobconfig builds a job's configuration from its defaults
// (contracts.DefaultConfig), a YAML file, and kebab-case flags that override
// the file (--mini-batch-size for mini_batch_size). The YAML holds
// ParallelRunConfig's key names, or is an Azure ML v2 parallel job
// (type: parallel) mapped onto them.
//
// Every key, flag and override comes from the one table of
// contracts.Settings: a key added there is read here with no change.
package jobconfig

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/redact"
)

// ErrUnknownKey is wrapped (with contracts.ErrInvalid) by the error of a
// key that is neither a setting nor one that prs knows to ignore.
var ErrUnknownKey = errors.New("unknown key")

// Load reads a YAML file onto the defaults and returns the warnings of the
// keys that prs accepts and ignores. Unknown keys are an error that names
// them, so that a misspelt setting is never silently ignored.
func Load(path string) (contracts.Config, []string, error) {
	c := contracts.DefaultConfig()
	d, err := load(path, &c)
	if err != nil {
		return c, nil, err
	}
	if err := d.finish(&c); err != nil {
		return c, d.warnings, fmt.Errorf("config %s: %w", path, err)
	}
	return c, d.warnings, nil
}

func load(path string, c *contracts.Config) (*decoded, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	d, err := decode(b, filepath.Dir(path), c)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return d, nil
}

// Parse reads a YAML document onto the defaults, as Load reads a file
// (relative paths of an Azure ML job are relative to the working folder).
func Parse(data []byte) (contracts.Config, []string, error) {
	c := contracts.DefaultConfig()
	d, err := decode(data, ".", &c)
	if err != nil {
		return c, nil, err
	}
	return c, d.warnings, d.finish(&c)
}

// decoded is what decode learnt besides the settings: warnings, and the
// steps that wait for the flags (an Azure ML path that a flag must give, an
// argument that names the output).
type decoded struct {
	warnings []string
	// after runs once the flags are applied.
	after []func(c *contracts.Config) error
}

func (d *decoded) warn(key, format string, args ...any) {
	d.warnings = append(d.warnings, key+": "+fmt.Sprintf(format, args...))
}

func (d *decoded) finish(c *contracts.Config) error {
	for _, f := range d.after {
		if err := f(c); err != nil {
			return err
		}
	}
	return nil
}

// decode reads a YAML document onto c: prs's keys, or an Azure ML v2
// parallel job (type: parallel) whose relative paths are relative to dir.
// Call finish on the result once flags have been applied.
func decode(data []byte, dir string, c *contracts.Config) (*decoded, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &decoded{}, nil // an empty file sets nothing
		}
		return nil, err
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: the file holds more than one YAML document", contracts.ErrInvalid)
	}
	root := deref(&doc)
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = deref(root.Content[0])
	}
	if isNull(root) {
		return &decoded{}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: %w: the configuration must be a mapping of keys to values", root.Line, contracts.ErrInvalid)
	}
	d := &decoded{}
	if t := lookup(root, "type"); t != nil {
		return d, decodeAzureML(root, dir, c, d)
	}
	return d, decodeMapping(root, "", c, d)
}

// Flags are the job settings as command-line flags, one per setting.
type Flags struct {
	fs       *flag.FlagSet
	config   *string
	flags    []*settingFlag
	warnings []string
}

// settingFlag keeps every value given to one setting's flag, to apply them
// over the configuration file.
type settingFlag struct {
	s    contracts.Setting
	vals []string
}

// A boolean setting's flag takes a value too (--allow-reuse false, as
// before): a bare --allow-reuse would take "false" for a script argument.
func (f *settingFlag) String() string     { return strings.Join(f.vals, ",") }
func (f *settingFlag) Set(v string) error { f.vals = append(f.vals, v); return nil }

// Register adds --config and a flag for each setting to fs, with its help,
// its range or valid values, and its default.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	f.config = fs.String("config", "", "YAML file with the job's settings (ParallelRunConfig's names, or an Azure ML v2 parallel job: type: parallel); flags override it")
	def := contracts.DefaultConfig()
	for _, s := range contracts.Settings() {
		name := s.FlagName()
		if name == "" {
			continue
		}
		usage := s.Help
		if d := s.Describe(); d != "" {
			usage += "; " + d
		}
		if v := s.Text(&def); v != "" {
			usage += " (default " + v + ")"
		}
		sf := &settingFlag{s: s}
		f.flags = append(f.flags, sf)
		fs.Var(sf, name, usage)
	}
	return f
}

// Config returns the defaults, overlaid by --config's file, overlaid by the
// flags that were set; arguments, when there are any, replace the script's
// arguments (they come after "--" on the command line).
func (f *Flags) Config(arguments []string) (contracts.Config, error) {
	c := contracts.DefaultConfig()
	d := &decoded{}
	if *f.config != "" {
		var err error
		if d, err = load(*f.config, &c); err != nil {
			return c, err
		}
	}
	f.warnings = d.warnings
	for _, sf := range f.flags {
		if len(sf.vals) == 0 {
			continue
		}
		if err := applyFlag(&c, sf); err != nil {
			return c, err
		}
	}
	if len(arguments) > 0 {
		c.Arguments = append([]string(nil), arguments...)
	}
	if err := d.finish(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", *f.config, err)
	}
	return c, nil
}

// Warnings are the configuration file's keys that prs accepts and ignores,
// one line each, once Config has run.
func (f *Flags) Warnings() []string { return f.warnings }

// applyFlag sets one setting from every value its flag was given: a scalar
// takes the last, a list replaces the file's with the values given (split
// at commas where the setting says so), NAME=VALUE pairs add to the file's.
func applyFlag(c *contracts.Config, sf *settingFlag) error {
	s := &sf.s
	switch s.Kind() {
	case contracts.KindTexts, contracts.KindInts, contracts.KindFloats:
		s.Clear(c)
		for _, v := range sf.vals {
			parts := []string{v}
			if s.Comma {
				parts = strings.Split(v, ",")
			}
			for _, p := range parts {
				if p = strings.TrimSpace(p); p == "" {
					continue
				}
				if err := s.Append(c, p); err != nil {
					return err
				}
			}
		}
	case contracts.KindTextMap:
		for _, v := range sf.vals {
			name, val, ok := strings.Cut(v, "=")
			if !ok {
				return &contracts.FieldError{Field: s.Key, Err: fmt.Errorf("%w: --%s %q is not NAME=VALUE", contracts.ErrInvalid, s.FlagName(), redact.URL(v))}
			}
			if err := s.Put(c, name, val); err != nil {
				return err
			}
		}
	default:
		for _, v := range sf.vals {
			if err := s.Set(c, v); err != nil {
				return err
			}
		}
	}
	return s.Check(c)
}
