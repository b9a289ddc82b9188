package entryscript

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// Operations of the protocol (PROTOCOL.md).
const (
	opInit     = "init"
	opRun      = "run"
	opShutdown = "shutdown"
)

// request is one line the worker writes to the script's fd 3.
type request struct {
	Op    string    `json:"op"`
	Batch *batchRef `json:"batch,omitempty"`
	// MiniBatch are the local paths; a path that is not UTF-8 keeps its
	// bytes as \udcXX escapes (contracts.Name).
	MiniBatch []contracts.Name `json:"mini_batch,omitzero"` // present, if empty, in run requests
	// Tabular, in an init request, says that run() receives DataFrames.
	Tabular bool `json:"tabular,omitempty"`
	// OutputFormat, in an init request, is the job's output_format: "text"
	// (ParallelRunStep's rows, the default), "csv", "jsonl" or "parquet".
	OutputFormat string `json:"output_format,omitempty"`
	// Table, in a run request, holds a tabular mini-batch's rows.
	Table *wireTable `json:"table,omitempty"`
	// Context, in a run request, is run()'s mini_batch_context.
	Context *runContext `json:"context,omitempty"`
}

// wireTable is a tabular mini-batch: CSV text with its header (format
// "csv") or one JSON object per row (format "records").
type wireTable struct {
	Format  string            `json:"format"`
	Columns []string          `json:"columns,omitempty"`
	CSV     contracts.Name    `json:"csv,omitempty"` // bytes that are not UTF-8 kept
	Records []json.RawMessage `json:"records,omitempty"`
	// FirstIndex is the DataFrame index of the first row: 0 but for a part
	// of a mini-batch run alone (isolate_failures).
	FirstIndex int `json:"first_index,omitempty"`
}

// runContext is what a run(mini_batch, mini_batch_context) gets.
type runContext struct {
	// PartitionKeyValue is an object of the partition_keys values, its
	// members in the order of partition_keys; null without partition_keys.
	PartitionKeyValue json.RawMessage `json:"partition_key_value"`
	// Dataset names the job's input.
	Dataset *wireDataset `json:"dataset,omitempty"`
	// MinibatchIndex is the mini-batch's index (from 0).
	MinibatchIndex int64 `json:"minibatch_index"`
}

// wireDataset is mini_batch_context.dataset: the job's input.
type wireDataset struct {
	Name string `json:"name"`
	URI  string `json:"uri"`
}

// batchRef names the attempt a run request belongs to.
type batchRef struct {
	JobID   string `json:"job_id"`
	Index   int64  `json:"index"`
	Attempt int    `json:"attempt"`
}

// response is one line the script writes to its fd 4.
type response struct {
	OK   bool              `json:"ok"`
	Rows []json.RawMessage `json:"rows"`
	// Columns are set when run() returned a DataFrame; each row is then an
	// array of its values.
	Columns []string   `json:"columns"`
	Error   *wireError `json:"error"`
}

// wireError is an exception the script reports.
type wireError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Traceback string `json:"traceback"`
}

// scriptError is the error a response with ok false stands for.
func (r *response) scriptError() *consumer.ScriptError {
	if r.Error == nil {
		return &consumer.ScriptError{Type: "Error", Message: "the script answered ok=false without an error"}
	}
	e := &consumer.ScriptError{Type: r.Error.Type, Message: r.Error.Message, Traceback: r.Error.Traceback}
	if e.Type == "" {
		e.Type = "Error"
	}
	return e
}

// compactRows returns the rows of a run response as compact JSON, in UTF-8:
// bytes that are not UTF-8 (which can only be inside strings, since JSON
// syntax outside them is ASCII) become U+FFFD, as encoding/json decodes
// them, so that the output files hold valid JSON text whatever a script
// wrote.
func (r *response) compactRows() ([]json.RawMessage, error) {
	rows := make([]json.RawMessage, len(r.Rows))
	for i, raw := range r.Rows {
		var b bytes.Buffer
		if err := json.Compact(&b, raw); err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		rows[i] = b.Bytes()
		if !utf8.Valid(rows[i]) {
			rows[i] = validUTF8(rows[i])
		}
	}
	return rows, nil
}

// validUTF8 replaces each byte of b that is not part of a UTF-8 sequence by
// U+FFFD, one for one as encoding/json does.
func validUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// protocolError is a response line that breaks the protocol.
func protocolError(format string, args ...any) *consumer.ScriptError {
	return &consumer.ScriptError{Type: "ProtocolError", Message: fmt.Sprintf(format, args...)}
}
