package contracts

import (
	"path"
	"time"
)

// Attempt results in the job report.
const (
	ResultSucceeded = "succeeded" // every item succeeded
	ResultPartial   = "partial"   // run() returned fewer rows than items
	ResultRetried   = "retried"   // the attempt failed and the batch was tried again
	ResultFailed    = "failed"    // the attempt failed on the batch's last try
	ResultTransient = "transient" // storage or broker trouble; sent back, no try spent
	ResultLost      = "lost"      // out of tries: the worker of the last try died
	// ResultDuplicate: the attempt ran, but another attempt's outcome was
	// recorded first (a delivery taken over after its ack wait); its rows
	// are not used.
	ResultDuplicate = "duplicate"
	// ResultSplit is a part of an isolation (isolate_failures) whose run()
	// failed: it was run again in halves, whose rows decide its items.
	ResultSplit = "split"
)

// Counts reports whether an attempt with this result can be its
// mini-batch's counted attempt (the one its outcome records).
func Counts(result string) bool {
	switch result {
	case ResultSucceeded, ResultPartial, ResultFailed, ResultLost:
		return true
	}
	return false
}

// AttemptRecord is one attempt at a mini-batch, as the job report lists it.
type AttemptRecord struct {
	// Job is the job's id: a job's report merges its own records only.
	Job       string    `json:"job,omitempty"`
	Index     int64     `json:"index"`
	Attempt   int       `json:"attempt"`
	Worker    string    `json:"worker"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Items     int       `json:"items"`
	Succeeded int       `json:"succeeded"`
	Failed    int       `json:"failed"`
	Start     time.Time `json:"start"`
	Seconds   float64   `json:"seconds"`
	Result    string    `json:"result"`
	ErrorType string    `json:"error_type,omitempty"`
	Error     string    `json:"error,omitempty"`
	// FirstItem is the key of the batch's first item (where an error was seen).
	FirstItem string `json:"first_item,omitempty"`
	// Part is set on the record of one run() of an isolation
	// (isolate_failures): which of the mini-batch's items it ran, by their
	// 0-based places ("items 0-24", "item 17"). Such records come before
	// their attempt's own record, whose Part is empty.
	Part string `json:"part,omitempty"`
	// ExtraCalls is, on an isolated attempt's own record, the number of
	// run() calls its isolation added to the attempt's first.
	ExtraCalls int `json:"extra_calls,omitempty"`
}

// Log layout under a job's output, as ParallelRunStep users know it.
const (
	LogOverview      = "logs/job_progress_overview.txt"
	LogReport        = "logs/sys/job_report/processed_mini-batches.csv"
	LogErrorSummary  = "logs/user/error.txt"
	logWorkerRecords = "logs/sys/job_report/workers"
)

// LogNode is a worker's record of each mini-batch, in words.
func LogNode(host, worker string) string { return path.Join("logs/sys/node", host, worker+".txt") }

// LogWorkerRecords holds a worker's AttemptRecords as JSON lines, the
// source of the job report.
func LogWorkerRecords(host, worker string) string {
	return path.Join(logWorkerRecords, host, worker+".jsonl")
}

// LogWorkerRecordsPrefix is the folder of every worker's records.
const LogWorkerRecordsPrefix = logWorkerRecords + "/"

// LogStdout and LogStderr hold the user code's output on a worker.
func LogStdout(host, worker string) string {
	return path.Join("logs/user/stdout", host, worker+".stdout.txt")
}

// LogStderr holds the user code's standard error on a worker.
func LogStderr(host, worker string) string {
	return path.Join("logs/user/stderr", host, worker+".stderr.txt")
}

// LogTracebacks holds the full tracebacks of a worker's failed attempts.
func LogTracebacks(host, worker string) string {
	return path.Join("logs/user/error", host, worker+".txt")
}

// LogEntryScript holds the records of the EntryScript logger on a worker.
func LogEntryScript(host, worker string) string {
	return path.Join("logs/user/entry_script_log", host, worker+".log.txt")
}

// EntryScriptLogFile is the file, in a job's log folder on a worker, where
// the EntryScript logger writes.
const EntryScriptLogFile = "entry_script.log.txt"
