package contracts

import (
	"errors"
	"fmt"
	"path"
	"strconv"
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
	EntryScript string `json:"entry_script,omitempty" yaml:"entry_script"`
	// SourceDirectory is shipped to every worker; empty ships the entry script alone.
	SourceDirectory string `json:"source_directory,omitempty" yaml:"source_directory"`
	// Arguments are given to the script's argv; "{side_inputs.NAME}" becomes the
	// local path of that side input.
	Arguments []string `json:"arguments,omitempty" yaml:"arguments"`
	// SideInputs maps NAME to a URI fetched once per worker, never partitioned.
	SideInputs map[string]string `json:"side_inputs,omitempty" yaml:"side_inputs"`
	// Input is s3://bucket/prefix or a local folder.
	Input string `json:"input" yaml:"input"`
	// Include holds glob patterns (path.Match, on the key relative to Input, or
	// on its base name when the pattern has no "/"; a leading "/" anchors a
	// pattern at the input root); empty includes everything.
	Include []string `json:"include,omitempty" yaml:"include"`
	// Output is s3://bucket/prefix or a local folder.
	Output string `json:"output" yaml:"output"`
	// MiniBatchSize is the number of files per mini-batch (default 10) or,
	// for a tabular input, an amount of data: 1024, 64KB, 10MB, 1GB (KB =
	// 1024 bytes; default 1MB).
	MiniBatchSize string `json:"mini_batch_size,omitempty" yaml:"mini_batch_size"`
	// InputFormat makes the input tabular: csv, jsonl, parquet, or auto
	// (each file's extension tells). Unset, an input URI that names one
	// .csv, .jsonl or .parquet file is tabular, anything else is files.
	InputFormat string `json:"input_format,omitempty" yaml:"input_format"`
	// OutputFormat is how append_row writes the rows: "" (default: as
	// ParallelRunStep, a DataFrame row as space-separated values, no header),
	// csv, jsonl or parquet (a proper file with a header or schema).
	OutputFormat string `json:"output_format,omitempty" yaml:"output_format"`
	// PartitionKeys are column names (tabular) or partition_format names
	// (files): the rows or files with equal values reach run() in the same
	// mini-batch, one mini-batch per group; they take precedence over
	// mini_batch_size.
	PartitionKeys []string `json:"partition_keys,omitempty" yaml:"partition_keys"`
	// PartitionFormat names the path segments of a file input, such as
	// "/{user}/{genre}/{filename}.wav", for partition_keys.
	PartitionFormat string `json:"partition_format,omitempty" yaml:"partition_format"`
	// PartitionMaxSize bounds the rows of one partition_keys group of a
	// tabular input (default 1GB): a larger group is an error, not an
	// out-of-memory worker.
	PartitionMaxSize string `json:"partition_max_size,omitempty" yaml:"partition_max_size"`
	// ErrorThreshold is the number of failed items tolerated; -1 (default) tolerates all.
	ErrorThreshold int `json:"error_threshold" yaml:"error_threshold"`
	// AllowedFailedCount is the number of failed mini-batches tolerated; -1 (default) is unset.
	AllowedFailedCount int `json:"allowed_failed_count" yaml:"allowed_failed_count"`
	// AllowedFailedPercent is the percentage of failed mini-batches tolerated (default 100).
	AllowedFailedPercent float64 `json:"allowed_failed_percent" yaml:"allowed_failed_percent"`
	// OutputAction is append_row (default) or summary_only.
	OutputAction string `json:"output_action" yaml:"output_action"`
	// AppendRowFileName names the final file (default parallel_run_step.txt).
	AppendRowFileName string `json:"append_row_file_name" yaml:"append_row_file_name"`
	// RunInvocationTimeout is the limit of one run() call in seconds (default 60).
	RunInvocationTimeout int `json:"run_invocation_timeout" yaml:"run_invocation_timeout"`
	// RunMaxTry is the number of attempts per mini-batch (default 3), counting
	// attempts lost to a dead worker.
	RunMaxTry int `json:"run_max_try" yaml:"run_max_try"`
	// ProcessCountPerNode is the number of concurrent slots per worker (default 1).
	ProcessCountPerNode int `json:"process_count_per_node" yaml:"process_count_per_node"`
	// LoggingLevel is DEBUG, INFO (default) or WARNING.
	LoggingLevel string `json:"logging_level" yaml:"logging_level"`
	// AllowReuse returns a completed identical job's output without running (default true).
	AllowReuse bool `json:"allow_reuse" yaml:"allow_reuse"`
	// Handler is entry_script (default); other handlers plug in by name.
	Handler string `json:"handler" yaml:"handler"`
	// Interpreter runs the entry script (default python3).
	Interpreter string `json:"interpreter" yaml:"interpreter"`
	// ResourceMonitorInterval is how often, in seconds, workers sample CPU,
	// memory, disk and GPU use into logs/perf (default 600; 0 turns it off).
	ResourceMonitorInterval int `json:"resource_monitor_interval" yaml:"resource_monitor_interval"`
	// ONNX holds the settings of handler onnx.
	ONNX *ONNXConfig `json:"onnx,omitempty" yaml:"onnx"`
}

// DefaultConfig returns a Config holding every default.
func DefaultConfig() Config {
	return Config{
		ErrorThreshold:       -1,
		AllowedFailedCount:   -1,
		AllowedFailedPercent: 100,
		OutputAction:         OutputAppendRow,
		AppendRowFileName:    "parallel_run_step.txt",
		RunInvocationTimeout: 60,
		RunMaxTry:            3,
		ProcessCountPerNode:  1,
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

// DefaultFilesPerBatch is the mini_batch_size of a file input that does
// not set one.
const DefaultFilesPerBatch = 10

// MaxSeconds is the largest run_invocation_timeout and
// resource_monitor_interval: a year, far from the overflow of a
// time.Duration (about 292 years).
const MaxSeconds = 366 * 24 * 60 * 60

// DefaultPartitionMaxSize is partition_max_size when it is not set.
const DefaultPartitionMaxSize = 1 << 30

// FilesPerBatch parses MiniBatchSize as a count of files (default 10).
func (c *Config) FilesPerBatch() (int, error) {
	s := strings.TrimSpace(c.MiniBatchSize)
	if s == "" {
		return DefaultFilesPerBatch, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, invalid("mini_batch_size", "%q is not a whole number of files", c.MiniBatchSize)
	}
	if n < 1 {
		return 0, invalid("mini_batch_size", "must be at least 1, got %d", n)
	}
	return n, nil
}

// Validate checks every key and returns the first problem, naming its key.
// It does not touch the file system or the network.
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
	for _, p := range c.Include {
		if _, err := path.Match(p, ""); err != nil {
			return invalid("include", "bad pattern %q: %v", p, err)
		}
	}
	if err := c.validateInput(); err != nil {
		return err
	}
	if c.ErrorThreshold < -1 {
		return invalid("error_threshold", "must be -1 (tolerate all) or at least 0, got %d", c.ErrorThreshold)
	}
	if c.AllowedFailedCount < -1 {
		return invalid("allowed_failed_count", "must be -1 (unset) or at least 0, got %d", c.AllowedFailedCount)
	}
	if !(c.AllowedFailedPercent >= 0 && c.AllowedFailedPercent <= 100) { // NaN too
		return invalid("allowed_failed_percent", "must be between 0 and 100, got %v", c.AllowedFailedPercent)
	}
	switch c.OutputAction {
	case OutputAppendRow, OutputSummaryOnly:
	default:
		return invalid("output_action", "must be %s or %s, got %q", OutputAppendRow, OutputSummaryOnly, c.OutputAction)
	}
	if c.OutputAction == OutputAppendRow {
		n := c.AppendRowFileName
		if n == "" || strings.ContainsAny(n, `/\`) || n == "." || n == ".." {
			return invalid("append_row_file_name", "must be a plain file name, got %q", n)
		}
	}
	if c.RunInvocationTimeout < 1 || c.RunInvocationTimeout > MaxSeconds {
		return invalid("run_invocation_timeout", "must be between 1 and %d seconds (a year), got %d", MaxSeconds, c.RunInvocationTimeout)
	}
	if c.RunMaxTry < 1 {
		return invalid("run_max_try", "must be at least 1, got %d", c.RunMaxTry)
	}
	if c.ProcessCountPerNode < 1 {
		return invalid("process_count_per_node", "must be at least 1, got %d", c.ProcessCountPerNode)
	}
	if c.ResourceMonitorInterval < 0 || c.ResourceMonitorInterval > MaxSeconds {
		return invalid("resource_monitor_interval", "must be 0 (off) or a number of seconds up to %d (a year), got %d", MaxSeconds, c.ResourceMonitorInterval)
	}
	switch strings.ToUpper(c.LoggingLevel) {
	case "DEBUG", "INFO", "WARNING":
	default:
		return invalid("logging_level", "must be DEBUG, INFO or WARNING, got %q", c.LoggingLevel)
	}
	if c.ONNX != nil {
		if err := c.ONNX.checkFinite(); err != nil {
			return err
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
	case "":
		return invalid("handler", "is required")
	}
	for name := range c.SideInputs {
		if !validName(name) {
			return invalid("side_inputs", "name %q must use letters, digits, '_' or '-'", name)
		}
		if strings.TrimSpace(c.SideInputs[name]) == "" {
			return invalid("side_inputs", "%s has no URI", name)
		}
	}
	return nil
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

// BytesPerBatch parses MiniBatchSize as the size of a tabular mini-batch
// (default 1MB).
func (c *Config) BytesPerBatch() (int64, error) {
	if strings.TrimSpace(c.MiniBatchSize) == "" {
		return DefaultPieceSize, nil
	}
	n, err := ParseSize(c.MiniBatchSize)
	if err != nil {
		return 0, &FieldError{Field: "mini_batch_size", Err: sizeError{err}}
	}
	return n, nil
}

// PartitionMaxBytes parses PartitionMaxSize (default 1GB).
func (c *Config) PartitionMaxBytes() (int64, error) {
	if strings.TrimSpace(c.PartitionMaxSize) == "" {
		return DefaultPartitionMaxSize, nil
	}
	n, err := ParseSize(c.PartitionMaxSize)
	if err != nil {
		return 0, &FieldError{Field: "partition_max_size", Err: sizeError{err}}
	}
	return n, nil
}

// sizeError is a size setting that ParseSize refused: it wraps ErrInvalid
// (as every validation error does) and ErrInvalidSize, and reads as
// ParseSize's message.
type sizeError struct{ err error }

func (e sizeError) Error() string   { return e.err.Error() }
func (e sizeError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// validateInput checks the settings that depend on the input's kind.
func (c *Config) validateInput() error {
	switch strings.ToLower(strings.TrimSpace(c.InputFormat)) {
	case "", InputFormatCSV, InputFormatJSONL, InputFormatParquet, InputFormatAuto:
	default:
		return invalid("input_format", "must be csv, jsonl, parquet or auto, got %q", c.InputFormat)
	}
	switch c.OutputFormat {
	case OutputFormatText, OutputFormatCSV, OutputFormatJSONL, OutputFormatParquet:
	default:
		return invalid("output_format", "must be csv, jsonl or parquet (or unset for ParallelRunStep's text rows), got %q", c.OutputFormat)
	}
	for _, k := range c.PartitionKeys {
		if strings.TrimSpace(k) == "" {
			return invalid("partition_keys", "holds an empty name")
		}
	}
	if c.Tabular() {
		if _, err := c.BytesPerBatch(); err != nil {
			return err
		}
		if c.PartitionFormat != "" {
			return invalid("partition_format", "names path segments of a file input; a tabular input partitions by columns with partition_keys alone")
		}
		if _, err := c.PartitionMaxBytes(); err != nil {
			return err
		}
		return nil
	}
	if _, err := c.FilesPerBatch(); err != nil {
		return err
	}
	if len(c.PartitionKeys) > 0 && c.PartitionFormat == "" {
		return invalid("partition_format", "is required with partition_keys for a file input (for example /{user}/{genre}/{filename}.wav)")
	}
	if c.PartitionFormat != "" && len(c.PartitionKeys) == 0 {
		return invalid("partition_keys", "is required with partition_format")
	}
	return nil
}
