// Package jobconfig builds a job's configuration from its defaults, a YAML
// file with ParallelRunConfig's key names, and kebab-case flags that
// override the file (--mini-batch-size for mini_batch_size).
package jobconfig

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/parallelrun/prs/contracts"
)

// Load reads a YAML file onto the defaults. Unknown keys are an error that
// names them, so a misspelt setting is never silently ignored.
func Load(path string) (contracts.Config, error) {
	c := contracts.DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	// Settings in a later document ("---") would be silently ignored.
	for i := 2; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		if err != nil {
			return c, fmt.Errorf("config %s: %w", path, err)
		}
		if len(doc.Content) > 0 && !(doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
			return c, fmt.Errorf("config %s: YAML document %d (after a ---) holds settings; put every setting in one document", path, i)
		}
	}
}

// Flags are the job settings as command-line flags.
type Flags struct {
	fs         *flag.FlagSet
	str        map[string]*string
	sideInputs multi
	include    multi
	config     *string
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

// settings lists the flag of each key, with its help.
var settings = []struct{ key, help string }{
	{"input", "input: s3://bucket/prefix or a local folder"},
	{"output", "output: s3://bucket/prefix or a local folder"},
	{"entry_script", "the entry script (relative to --source-directory when set)"},
	{"source_directory", "folder shipped to every worker"},
	{"mini_batch_size", "files per mini-batch (default 10), or for a tabular input a size such as 64KB, 10MB (default 1MB)"},
	{"input_format", "csv, jsonl, parquet or auto: the input is tabular (default: files, unless the input names one .csv/.jsonl/.parquet file)"},
	{"output_format", "csv, jsonl or parquet: how append_row writes the rows (default: ParallelRunStep's text lines)"},
	{"partition_keys", "comma-separated columns (tabular) or partition_format names (files) whose equal values share a mini-batch"},
	{"partition_format", "names the path segments of a file input, such as /{user}/{genre}/{filename}.wav"},
	{"partition_max_size", "largest partition_keys group of a tabular input (default 1GB)"},
	{"error_threshold", "failed items tolerated; -1 tolerates all (default -1)"},
	{"allowed_failed_count", "failed mini-batches tolerated; -1 is unset (default -1)"},
	{"allowed_failed_percent", "percentage of failed mini-batches tolerated, 0-100 (default 100)"},
	{"output_action", "append_row or summary_only (default append_row)"},
	{"append_row_file_name", "name of the final file (default parallel_run_step.txt)"},
	{"run_invocation_timeout", "seconds one run() may take (default 60)"},
	{"run_max_try", "attempts per mini-batch (default 3)"},
	{"process_count_per_node", "concurrent slots per worker (default 1)"},
	{"logging_level", "DEBUG, INFO or WARNING (default INFO)"},
	{"allow_reuse", "return an identical completed job's output without running (default true)"},
	{"handler", "entry_script (default)"},
	{"interpreter", "program that runs the entry script (default python3)"},
	{"resource_monitor_interval", "seconds between CPU, memory, disk and GPU samples in logs/perf; 0 turns it off (default 600)"},
}

// Register adds the job flags to fs, with --config and --side-input NAME=URI.
func Register(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs, str: map[string]*string{}}
	f.config = fs.String("config", "", "YAML file with the job's settings (ParallelRunConfig names); flags override it")
	for _, s := range settings {
		f.str[s.key] = fs.String(FlagName(s.key), "", s.help)
	}
	fs.Var(&f.sideInputs, "side-input", "NAME=URI of a side input (repeatable)")
	fs.Var(&f.include, "include", "glob of input files to include (repeatable)")
	return f
}

// FlagName is the kebab-case flag of a key.
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// Config returns the defaults, overlaid by --config's file, overlaid by the
// flags that were set.
func (f *Flags) Config() (contracts.Config, error) {
	c := contracts.DefaultConfig()
	if *f.config != "" {
		var err error
		if c, err = Load(*f.config); err != nil {
			return c, err
		}
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, s := range settings {
		if !set[FlagName(s.key)] {
			continue
		}
		if err := apply(&c, s.key, *f.str[s.key]); err != nil {
			return c, err
		}
	}
	for _, kv := range f.sideInputs {
		name, uri, ok := strings.Cut(kv, "=")
		if !ok {
			return c, &contracts.FieldError{Field: "side_inputs", Err: fmt.Errorf("%w: --side-input %q is not NAME=URI", contracts.ErrInvalid, kv)}
		}
		if c.SideInputs == nil {
			c.SideInputs = map[string]string{}
		}
		c.SideInputs[name] = uri
	}
	if len(f.include) > 0 {
		c.Include = append([]string(nil), f.include...)
	}
	return c, nil
}

func apply(c *contracts.Config, key, v string) error {
	num := func(dst *int) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return &contracts.FieldError{Field: key, Err: fmt.Errorf("%w: %q is not a whole number", contracts.ErrInvalid, v)}
		}
		*dst = n
		return nil
	}
	switch key {
	case "input":
		c.Input = v
	case "output":
		c.Output = v
	case "entry_script":
		c.EntryScript = v
	case "source_directory":
		c.SourceDirectory = v
	case "mini_batch_size":
		c.MiniBatchSize = v
	case "input_format":
		c.InputFormat = v
	case "output_format":
		c.OutputFormat = v
	case "partition_keys":
		c.PartitionKeys = nil
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				c.PartitionKeys = append(c.PartitionKeys, k)
			}
		}
	case "partition_format":
		c.PartitionFormat = v
	case "partition_max_size":
		c.PartitionMaxSize = v
	case "error_threshold":
		return num(&c.ErrorThreshold)
	case "allowed_failed_count":
		return num(&c.AllowedFailedCount)
	case "allowed_failed_percent":
		p, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return &contracts.FieldError{Field: key, Err: fmt.Errorf("%w: %q is not a number", contracts.ErrInvalid, v)}
		}
		c.AllowedFailedPercent = p
	case "output_action":
		c.OutputAction = v
	case "append_row_file_name":
		c.AppendRowFileName = v
	case "run_invocation_timeout":
		return num(&c.RunInvocationTimeout)
	case "run_max_try":
		return num(&c.RunMaxTry)
	case "process_count_per_node":
		return num(&c.ProcessCountPerNode)
	case "logging_level":
		c.LoggingLevel = strings.ToUpper(v)
	case "allow_reuse":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return &contracts.FieldError{Field: key, Err: fmt.Errorf("%w: %q is not true or false", contracts.ErrInvalid, v)}
		}
		c.AllowReuse = b
	case "handler":
		c.Handler = v
	case "interpreter":
		c.Interpreter = v
	case "resource_monitor_interval":
		return num(&c.ResourceMonitorInterval)
	}
	return nil
}
