package contracts

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultFilesPerBatch is the mini_batch_size of a file input that does
// not set one.
const DefaultFilesPerBatch = 10

// DefaultPartitionMaxSize is partition_max_size when it is not set.
const DefaultPartitionMaxSize = 1 << 30

// FilesPerBatch parses MiniBatchSize as a count of files (default 10), at
// most [MaxFilesPerBatch].
func (c *Config) FilesPerBatch() (int, error) {
	s := strings.TrimSpace(c.MiniBatchSize)
	if s == "" {
		return DefaultFilesPerBatch, nil
	}
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(s, "-"):
		return 0, invalid("mini_batch_size", "%s is too small, at least 1 file", s)
	case errors.Is(err, strconv.ErrRange):
		return 0, invalid("mini_batch_size", "%s is too large, at most %d files", s, MaxFilesPerBatch)
	case err != nil && hasUnit(s):
		return 0, invalid("mini_batch_size", "%q is a size, which is for a tabular input, but input %q is files: set input_format (csv, jsonl, parquet or auto) to read tables, or give a number of files", c.MiniBatchSize, c.Input)
	case err != nil:
		return 0, invalid("mini_batch_size", "%q is not a whole number of files (nor a size such as 64KB, for a tabular input)", c.MiniBatchSize)
	case n < 1:
		return 0, invalid("mini_batch_size", "%d is too small, at least 1 file", n)
	case n > MaxFilesPerBatch:
		return 0, invalid("mini_batch_size", "%d is too large, at most %d files", n, MaxFilesPerBatch)
	}
	return n, nil
}

// BytesPerBatch parses MiniBatchSize as the size of a tabular mini-batch
// (default 1MB), at most [MaxSize].
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

// DefaultRunResultMaxSize is the least run_result_max_size when it is not
// set: 1 GiB.
const DefaultRunResultMaxSize = 1 << 30

// RunResultMaxBytes parses RunResultMaxSize, at most [MaxSize]. Unset, it
// is [DefaultRunResultMaxSize] or, for a tabular input whose mini-batches
// (mini_batch_size) or partition groups (partition_max_size) may be larger,
// twice the larger of them: room for run() to return its rows with a
// column added.
func (c *Config) RunResultMaxBytes() (int64, error) {
	if strings.TrimSpace(c.RunResultMaxSize) != "" {
		n, err := ParseSize(c.RunResultMaxSize)
		if err != nil {
			return 0, &FieldError{Field: "run_result_max_size", Err: sizeError{err}}
		}
		return n, nil
	}
	n := int64(DefaultRunResultMaxSize)
	if !c.Tabular() {
		return n, nil
	}
	if b, err := c.BytesPerBatch(); err == nil {
		n = max(n, 2*b)
	}
	if g, err := c.PartitionMaxBytes(); err == nil && len(c.PartitionKeys) > 0 {
		n = max(n, 2*g)
	}
	return n, nil
}

// PartitionMaxBytes parses PartitionMaxSize (default 1GB), at most [MaxSize].
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

// hasUnit reports whether a mini_batch_size is written as a size with a
// unit ("64KB", "10 MB", "12XB"), not as a plain number.
func hasUnit(s string) bool {
	t := strings.TrimSpace(s)
	rest := strings.TrimSpace(strings.TrimLeft(t, "0123456789"))
	return rest != "" && len(rest) < len(t) && (rest[0]|0x20 >= 'a' && rest[0]|0x20 <= 'z')
}

// InputUndecided reports whether the input's kind waits for its listing:
// input_format is unset, the input does not name one table file, and
// mini_batch_size is a size with a unit ("64KB"). [Config.ResolveInputFormat]
// decides it once the producer has listed the input.
func (c *Config) InputUndecided() bool {
	return strings.TrimSpace(c.InputFormat) == "" && !TabularFileURI(c.Input) && hasUnit(c.MiniBatchSize)
}

// InputListing tallies an input's included files by extension, for
// [Config.ResolveInputFormat].
type InputListing struct {
	// Tables and Others count the files with and without a table extension
	// (.csv, .jsonl, .parquet, ...).
	Tables, Others int
	// Table and Other are the first key of each, for messages.
	Table, Other string
}

// Add counts one included key.
func (l *InputListing) Add(key string) {
	if _, ok := TableFormatOf(key); ok {
		if l.Tables == 0 {
			l.Table = key
		}
		l.Tables++
		return
	}
	if l.Others == 0 {
		l.Other = key
	}
	l.Others++
}

// ResolveInputFormat decides an undecided input (see
// [Config.InputUndecided]) from its listing: a folder whose files are all
// tables is tabular (input_format auto), and the result is validated again;
// any other folder is an error that names input_format. An empty listing,
// or an input that was decided already, leaves c as it is.
func (c *Config) ResolveInputFormat(l InputListing) error {
	if !c.InputUndecided() || l.Tables+l.Others == 0 {
		return nil
	}
	if l.Others == 0 {
		c.InputFormat = InputFormatAuto
		return c.Validate()
	}
	what := fmt.Sprintf("its files are not tables (such as %q)", l.Other)
	if l.Tables > 0 {
		what = fmt.Sprintf("its files mix tables (such as %q) and other files (such as %q)", l.Table, l.Other)
	}
	return invalid("input_format", "mini_batch_size %q is a size, which is for a tabular input, but input %q is not one: %s; set input_format (csv, jsonl, parquet or auto, with include to pick the tables) to read tables, or give mini_batch_size a number of files",
		c.MiniBatchSize, c.Input, what)
}

// sizeError is a size setting that ParseSize refused: it wraps ErrInvalid
// (as every validation error does) and ErrInvalidSize, and reads as
// ParseSize's message.
type sizeError struct{ err error }

func (e sizeError) Error() string   { return e.err.Error() }
func (e sizeError) Unwrap() []error { return []error{ErrInvalid, e.err} }

// validateInput checks the settings that depend on the input's kind.
func (c *Config) validateInput() error {
	for _, k := range c.PartitionKeys {
		if strings.TrimSpace(k) == "" {
			return invalid("partition_keys", "holds an empty name")
		}
	}
	if c.Tabular() || c.InputUndecided() {
		if _, err := c.BytesPerBatch(); err != nil {
			return err
		}
		if c.PartitionFormat != "" && c.InputUndecided() {
			return invalid("input_format", "mini_batch_size %q is a size, which is for a tabular input, but partition_format names the folders of a file input: set input_format for a tabular input, or give mini_batch_size a number of files", c.MiniBatchSize)
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
