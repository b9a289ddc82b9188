package contracts

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Output actions.
const (
	OutputAppendRow   = "append_row"
	OutputSummaryOnly = "summary_only"
)

// Handlers.
const (
	HandlerEntryScript = "entry_script"
)

// Config is a job's configuration. Keys keep ParallelRunConfig's names and
// meanings so that settings carry over; DefaultConfig gives every default.
type Config struct {
	// EntryScript is the user's script; relative to SourceDirectory when that is set.
	EntryScript string `json:"entry_script,omitempty"`
	// SourceDirectory is shipped to every worker; empty ships the entry script alone.
	SourceDirectory string `json:"source_directory,omitempty"`
	// Arguments are given to the script's argv; "{side_inputs.NAME}" becomes the
	// local path of that side input.
	Arguments []string `json:"arguments,omitempty"`
	// SideInputs maps NAME to a URI fetched once per worker, never partitioned.
	SideInputs map[string]string `json:"side_inputs,omitempty"`
	// Models maps a model's name to its URI, for the script's
	// Model.get_model_path(name): a local file or folder (shipped with the
	// job) or an s3:// object or prefix, fetched once per worker.
	Models map[string]string `json:"models,omitempty"`
	// Input is s3://bucket/prefix or a local folder.
	Input string `json:"input"`
	// Include holds glob patterns (path.Match, on the key relative to Input, or
	// on its base name when the pattern has no "/"; a leading "/" anchors a
	// pattern at the input root); empty includes everything.
	Include []string `json:"include,omitempty"`
	// FollowSymlinks makes the listing of a local input follow symbolic
	// links that lead out of the input folder (default false: such a link is
	// skipped with a warning). Links inside it are followed either way.
	FollowSymlinks bool `json:"follow_symlinks,omitempty"`
	// Output is s3://bucket/prefix or a local folder.
	Output string `json:"output"`
	// MiniBatchSize is the number of files per mini-batch (default 10) or,
	// for a tabular input, an amount of data: 1024, 64KB, 10MB, 1GB (KB =
	// 1024 bytes; default 1MB).
	MiniBatchSize string `json:"mini_batch_size,omitempty"`
	// InputFormat makes the input tabular: csv, jsonl, parquet, or auto
	// (each file's extension tells). Unset, an input URI that names one
	// .csv, .jsonl or .parquet file is tabular, anything else is files.
	InputFormat string `json:"input_format,omitempty"`
	// OutputFormat is how append_row writes the rows: "" (default: as
	// ParallelRunStep, a DataFrame row as space-separated values, no header),
	// csv, jsonl or parquet (a proper file with a header or schema).
	OutputFormat string `json:"output_format,omitempty"`
	// PartitionKeys are column names (tabular) or partition_format names
	// (files): the rows or files with equal values reach run() in the same
	// mini-batch, one mini-batch per group; they take precedence over
	// mini_batch_size.
	PartitionKeys []string `json:"partition_keys,omitempty"`
	// PartitionFormat names the path segments of a file input, such as
	// "/{user}/{genre}/{filename}.wav", for partition_keys.
	PartitionFormat string `json:"partition_format,omitempty"`
	// PartitionMaxSize bounds the rows of one partition_keys group of a
	// tabular input (default 1GB): a larger group is an error, not an
	// out-of-memory worker.
	PartitionMaxSize string `json:"partition_max_size,omitempty"`
	// ErrorThreshold is the number of failed items tolerated; -1 (default) tolerates all.
	ErrorThreshold int `json:"error_threshold"`
	// AllowedFailedCount is the number of failed mini-batches tolerated; -1 (default) is unset.
	AllowedFailedCount int `json:"allowed_failed_count"`
	// AllowedFailedPercent is the percentage of failed mini-batches tolerated (default 100).
	AllowedFailedPercent float64 `json:"allowed_failed_percent"`
	// OutputAction is append_row (default) or summary_only.
	OutputAction string `json:"output_action"`
	// AppendRowFileName names the final file (default parallel_run_step.txt).
	AppendRowFileName string `json:"append_row_file_name"`
	// InlineRowsMax is the largest size in bytes of a mini-batch's rows
	// that its outcome record in JetStream holds itself, instead of an
	// object of their own in the job's staging (default
	// DefaultInlineRowsMax; 0: always an object).
	InlineRowsMax int `json:"inline_rows_max,omitempty"`
	// RunInvocationTimeout is the limit of one run() call in seconds (default 60).
	RunInvocationTimeout int `json:"run_invocation_timeout"`
	// RunMaxTry is the number of attempts per mini-batch (default 3), counting
	// attempts lost to a dead worker.
	RunMaxTry int `json:"run_max_try"`
	// RunResultMaxSize bounds one answer of the entry script to the worker
	// (run()'s rows as one JSON line): a larger answer fails its attempt
	// instead of growing the worker's memory without limit. Default: 1GB,
	// or twice the largest tabular mini-batch or partition group when that
	// is more ([Config.RunResultMaxBytes]).
	RunResultMaxSize string `json:"run_result_max_size,omitempty"`
	// IsolateFailures makes a mini-batch whose run() raises or times out on
	// its last try run again in halves, recursively, until the items that
	// still fail are single items: the other items' rows are kept and only
	// the failing items fail (default false: the whole mini-batch fails, as
	// in ParallelRunStep).
	IsolateFailures bool `json:"isolate_failures,omitempty"`
	// IsolateMaxCalls caps the extra run() calls of one mini-batch's
	// isolation (0: DefaultIsolateMaxCalls); the items still undecided when
	// it is reached fail together.
	IsolateMaxCalls int `json:"isolate_max_calls,omitempty"`
	// ProcessCountPerNode is the number of concurrent slots per worker (default 1).
	ProcessCountPerNode int `json:"process_count_per_node"`
	// NodeCount is, in prs run, the number of local worker processes, each
	// with ProcessCountPerNode slots (default 1: the worker runs in prs
	// run's own process); on a fleet it is recorded with the job as the
	// desired number of workers, for autoscalers.
	NodeCount int `json:"node_count,omitempty"`
	// LoggingLevel is DEBUG, INFO (default) or WARNING.
	LoggingLevel string `json:"logging_level"`
	// AllowReuse returns a completed identical job's output without running (default true).
	AllowReuse bool `json:"allow_reuse"`
	// KeepStaging keeps the rows each mini-batch staged under the job's
	// .prs/<job>/ folder (and what the run shipped there) after the job
	// ends, for debugging (default false: removed once the job has ended).
	KeepStaging bool `json:"keep_staging,omitempty"`
	// Handler is entry_script (default); other handlers plug in by name.
	Handler string `json:"handler"`
	// Interpreter runs the entry script (default python3).
	Interpreter string `json:"interpreter"`
	// EnvironmentVariables are set in the entry script's environment
	// (ParallelRunConfig's environment_variables). Names PRS_* are
	// reserved; a PYTHONPATH is appended to prs's own.
	EnvironmentVariables map[string]string `json:"environment_variables,omitempty"`
	// EnvironmentPassthrough names variables of the worker's environment
	// that the entry script gets besides the default allow-list (README):
	// NAME, or PREFIX* for every name that starts with PREFIX.
	EnvironmentPassthrough []string `json:"environment_passthrough,omitempty"`
	// ResourceMonitorInterval is how often, in seconds, workers sample CPU,
	// memory, disk and GPU use into logs/perf (default 600; 0 turns it off).
	ResourceMonitorInterval int `json:"resource_monitor_interval"`
	// ONNX holds the settings of handler onnx.
	ONNX *ONNXConfig `json:"onnx,omitempty"`
}

// DefaultInlineRowsMax is inline_rows_max when it is not set: 64 KiB.
const DefaultInlineRowsMax = 64 << 10

// DefaultIsolateMaxCalls is isolate_max_calls when it is not set: enough
// to isolate 5 bad items in a mini-batch of 64 (2·k·log2 n = 60 calls).
const DefaultIsolateMaxCalls = 64

// IsolateCalls is the cap of the extra run() calls of one mini-batch's
// isolation: isolate_max_calls, or its default.
func (c *Config) IsolateCalls() int {
	if c.IsolateMaxCalls <= 0 {
		return DefaultIsolateMaxCalls
	}
	return c.IsolateMaxCalls
}

// DefaultConfig returns a Config holding every default.
func DefaultConfig() Config {
	return Config{
		ErrorThreshold:       -1,
		AllowedFailedCount:   -1,
		AllowedFailedPercent: 100,
		OutputAction:         OutputAppendRow,
		AppendRowFileName:    "parallel_run_step.txt",
		InlineRowsMax:        DefaultInlineRowsMax,
		RunInvocationTimeout: 60,
		RunMaxTry:            3,
		ProcessCountPerNode:  1,
		NodeCount:            1,
		LoggingLevel:         "INFO",
		AllowReuse:           true,
		Handler:              HandlerEntryScript,
		Interpreter:          "python3",

		ResourceMonitorInterval: 600,
	}
}

// FieldError names the configuration key that is wrong.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

func invalid(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)}
}

// Validate checks every key and returns the first problem, naming its key:
// what is required, each setting's range or valid values (from the table
// of [Settings]), then the rules that span keys. It changes nothing, and
// does not touch the file system or the network. A handler name that is
// not built in passes when it is no near misspelling of one (a handler
// plugged in through the Go API); YAML and flags accept built-in ones only.
func (c *Config) Validate() error {
	if err := c.checkText(); err != nil {
		return err
	}
	if strings.TrimSpace(c.Input) == "" {
		return invalid("input", "is required")
	}
	if strings.TrimSpace(c.Output) == "" {
		return invalid("output", "is required")
	}
	for i := range settings {
		if err := settings[i].check(c, false); err != nil {
			return err
		}
	}
	for _, p := range c.Include {
		if _, err := path.Match(p, ""); err != nil {
			return invalid("include", "bad pattern %q: %v", p, err)
		}
	}
	if err := c.validateInput(); err != nil {
		return err
	}
	if _, err := c.RunResultMaxBytes(); err != nil {
		return err
	}
	if c.OutputAction == OutputAppendRow {
		n := c.AppendRowFileName
		if n == "" || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
			return invalid("append_row_file_name", "must be a plain file name, got %q", n)
		}
	}
	switch c.Handler {
	case HandlerEntryScript:
		if strings.TrimSpace(c.EntryScript) == "" {
			return invalid("entry_script", "is required")
		}
		if c.Interpreter == "" {
			return invalid("interpreter", "is required")
		}
	case HandlerONNX:
		if err := c.validateONNX(); err != nil {
			return err
		}
	}
	if err := c.validateEnvironment(); err != nil {
		return err
	}
	for name := range c.SideInputs {
		if !validName(name) {
			return invalid("side_inputs", "name %q must use letters, digits, '_' or '-'", name)
		}
		if strings.TrimSpace(c.SideInputs[name]) == "" {
			return invalid("side_inputs", "%s has no URI", name)
		}
	}
	for name, uri := range c.Models {
		if !validModelName(name) {
			return invalid("models", "name %q must be 1-255 letters, digits, '_', '-' or '.', not starting with '.'", name)
		}
		if strings.TrimSpace(uri) == "" {
			return invalid("models", "%s has no URI", name)
		}
	}
	return nil
}

// validModelName accepts Azure ML's model names: letters, digits, '_', '-'
// and '.', not starting with '.' (a model's name is a folder's name on
// workers and under the job's staging root).
func validModelName(s string) bool {
	if s == "" || len(s) > 255 || s[0] == '.' {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
		default:
			return false
		}
	}
	return true
}

// Included reports whether a key relative to the input root passes Include:
// a pattern without "/" matches the key's base name at any depth, one with
// "/" the whole key, and one that starts with "/" the key from the input
// root ("/t.csv" matches t.csv but not old/t.csv).
func (c *Config) Included(key string) bool {
	if len(c.Include) == 0 {
		return true
	}
	base := path.Base(key)
	for _, p := range c.Include {
		target := key
		switch {
		case strings.HasPrefix(p, "/"):
			target = "/" + key
		case !strings.Contains(p, "/"):
			target = base
		}
		if ok, _ := path.Match(p, target); ok {
			return true
		}
	}
	return false
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// validateEnvironment checks environment_variables and
// environment_passthrough.
func (c *Config) validateEnvironment() error {
	for name := range c.EnvironmentVariables {
		if !validEnvName(name) {
			return invalid("environment_variables", "%q is not a variable name (letters, digits and '_', not first a digit)", name)
		}
		if strings.HasPrefix(name, "PRS_") {
			return invalid("environment_variables", "%s: names PRS_* are prs's own (the entry-script protocol's)", name)
		}
	}
	for _, p := range c.EnvironmentPassthrough {
		if p != "*" && !validEnvName(strings.TrimSuffix(p, "*")) { // "*" passes everything: the user's choice
			return invalid("environment_passthrough", "%q is not a variable name, or a prefix followed by *", p)
		}
	}
	return nil
}

// validEnvName reports whether s is a portable environment variable name.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
