package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parallelrun/prs/contracts"
)

// Batch is what a handler runs: one attempt at one mini-batch.
type Batch struct {
	JobID   string
	Index   int64
	Attempt int
	// Items are the batch's input objects, in listing order.
	Items []contracts.Item
	// Paths are the local paths of Items, one for one (nil for a tabular
	// mini-batch, whose rows are in Table).
	Paths []string
	// Table holds a tabular mini-batch's rows, read before Run; nil for files.
	Table *Table
	// Partition holds the mini-batch's partition_keys values in the order
	// of partition_keys, typed as run()'s data holds them
	// (mini_batch_context.partition_key_value); nil without partition_keys.
	Partition contracts.PartitionValues
}

// Table is the data of a tabular mini-batch: its well-formed rows, in file
// order. Malformed rows never reach the handler: the runtime counts them as
// failed items.
type Table struct {
	// Format is the piece's format: csv, jsonl or parquet.
	Format string
	// Columns are the CSV header's fields or the Parquet schema's
	// top-level names; empty for JSON Lines.
	Columns []string
	// CSV holds a CSV piece's header line and well-formed records,
	// re-encoded as RFC 4180 CSV (Format csv).
	CSV []byte
	// Records hold each well-formed row of a JSON Lines or Parquet piece as
	// one JSON object.
	Records []json.RawMessage
	// Rows is the number of well-formed rows (the ones the handler gets).
	Rows int
	// FirstIndex is the place of the first row in the mini-batch's table,
	// from 0: 0 for a mini-batch; for a part of one that isolate_failures
	// runs alone, where the part starts, so that its rows keep their
	// numbers (the DataFrame's index, "row N of the mini-batch").
	FirstIndex int

	// refs locate each row in its file, to name a row that fails alone
	// (ReadTable sets them; a part has its own rows' refs).
	refs []rowRef
}

// Result is what a handler returns for a batch.
type Result struct {
	// Rows are the elements run() returned, each as compact JSON. Each row
	// counts as one successful item; fewer rows than items makes the
	// difference failed items and the batch failed.
	Rows []json.RawMessage
	// Columns are set when run() returned a DataFrame: each row is then a
	// JSON array of one value per column.
	Columns []string
	// ItemErrors say why items failed, when the handler knows (optional).
	ItemErrors []ItemError
}

// ItemError is the failure of one item of a batch.
type ItemError struct {
	// Index is the item's position in Batch.Items, or -1 when Item names
	// what failed (a row of a tabular mini-batch).
	Index int
	// Item names the failed item when Index is -1 ("data.csv: row 17").
	Item string
	Err  string
}

// Handler runs mini-batches inside one slot. The runtime calls Init before
// every Run (it must be cheap once the handler is ready, and start it again
// after a timeout or a crash), Run once per attempt, and Close when the slot
// ends or moves to another job.
// Run must return promptly once ctx is done; it then returns ctx's error.
type Handler interface {
	Init(ctx context.Context) error
	Run(ctx context.Context, b *Batch) (Result, error)
	Close() error
}

// HandlerFunc adapts a function to Handler for handlers with no state.
type HandlerFunc func(ctx context.Context, b *Batch) (Result, error)

// Init does nothing.
func (f HandlerFunc) Init(context.Context) error { return nil }

// Run calls f.
func (f HandlerFunc) Run(ctx context.Context, b *Batch) (Result, error) { return f(ctx, b) }

// Close does nothing.
func (f HandlerFunc) Close() error { return nil }

// JobEnv is what a handler factory gets to build a job's handler in a slot.
type JobEnv struct {
	Job *contracts.Job
	// SourceDir is the local copy of the job's shipped source folder.
	SourceDir string
	// EntryScript is the local path of the entry script (inside SourceDir).
	EntryScript string
	// SideInputs maps each side input's name to its local path.
	SideInputs map[string]string
	// Models maps each of the job's models to its local path (a file or a
	// folder), for the script's Model.get_model_path.
	Models map[string]string
	// Model and Labels are the local paths of handler onnx's model and
	// labels files ("" when not set).
	Model, Labels string
	// WorkDir is a private scratch folder of this slot.
	WorkDir string
	// OutputDir is the slot's local folder for the files the script writes
	// (EntryScript.output_dir, AZUREML_BI_OUTPUT_PATH): emptied of files
	// (not of folders) before each attempt and each part of an isolation;
	// the files of an attempt whose outcome is recorded reach the job's
	// output.
	OutputDir string
	// LogDir is a local folder for the script's own logs (EntryScript.log_dir).
	LogDir string
	// Worker names this worker; Slot numbers the slot within it, from 0.
	Worker string
	Slot   int
	// Stdout and Stderr receive the user's output (they are the user's logs).
	Stdout, Stderr interface{ Write([]byte) (int, error) }
}

// HandlerFactory builds a job's handler for one slot.
type HandlerFactory func(ctx context.Context, env *JobEnv) (Handler, error)

// ScriptError is an error raised by the user's code: it spends a try.
type ScriptError struct {
	// Type is the exception's class name (or "Timeout", "Crash").
	Type      string
	Message   string
	Traceback string
}

func (e *ScriptError) Error() string {
	if e.Message == "" {
		return e.Type
	}
	return e.Type + ": " + e.Message
}

// ErrRunTimeout is wrapped by the error of a run() that passed
// run_invocation_timeout.
var ErrRunTimeout = errors.New("run() passed run_invocation_timeout")

// TransientError marks an error of storage or the broker around a batch: the
// attempt is retried without spending the user's run_max_try.
type TransientError struct{ Err error }

func (e *TransientError) Error() string { return "transient: " + e.Err.Error() }
func (e *TransientError) Unwrap() error { return e.Err }

// InitError is an error of the handler's Init (the script's init()): it
// spends a try, and Init runs again before the next batch.
type InitError struct{ Err error }

func (e *InitError) Error() string { return fmt.Sprintf("init failed: %v", e.Err) }
func (e *InitError) Unwrap() error { return e.Err }
