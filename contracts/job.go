package contracts

import (
	"fmt"
	"time"
)

// Job is what a producer records in KV for workers to read: the user's
// configuration plus what the producer decided for this job.
type Job struct {
	// ID names the job in subjects and keys (letters, digits, '_' and '-').
	ID string `json:"id"`
	// Config is the user's configuration, defaults applied.
	Config Config `json:"config"`
	// Staging is the URI under which the job keeps its own objects: the shipped
	// source folder and the per-batch results ("<output>/.prs/<id>").
	Staging string `json:"staging"`
	// EntryScriptKey is the entry script's key relative to Staging+"/source".
	EntryScriptKey string `json:"entry_script_key,omitempty"`
	// SourceFiles is the number of files shipped under Staging+"/source".
	SourceFiles int `json:"source_files"`
	// Model is where workers fetch handler onnx's model from: a key under
	// Staging+"/model" when the producer shipped a local file, else the
	// configured URI. ModelHash identifies its content (sha256 of the file,
	// or of URI and ETag) and names it in the workers' model cache.
	ModelKey  string `json:"model_key,omitempty"`
	ModelHash string `json:"model_hash,omitempty"`
	// ModelETag pins a model given by URI: a worker refuses another version.
	ModelETag string `json:"model_etag,omitempty"`
	// Models says where workers fetch each of the models that the script's
	// Model.get_model_path names (Config.Models): a key under Staging
	// ("models/NAME/FILE" for a shipped file, "models/NAME/" for a shipped
	// folder), or the configured s3:// URI.
	Models map[string]string `json:"models,omitempty"`
	// LabelsKey is handler onnx's labels file under Staging+"/labels" when
	// the producer shipped a local file.
	LabelsKey string `json:"labels_key,omitempty"`
	// Fingerprint identifies the job's script, settings and input for allow_reuse.
	Fingerprint string `json:"fingerprint,omitempty"`
	// SubmittedAt is when the producer first recorded the job.
	SubmittedAt time.Time `json:"submitted_at"`
	// Watch names the watch (prs watch) whose window this job is, and
	// Window the window's number; empty for a submitted job.
	Watch  string `json:"watch,omitempty"`
	Window int64  `json:"window,omitempty"`
}

// ValidateJobID checks a job id for use in subjects and KV keys.
func ValidateJobID(id string) error {
	if !validName(id) {
		return &FieldError{Field: "job_id", Err: fmt.Errorf("%w: %q must be 1-64 letters, digits, '_' or '-'", ErrInvalid, id)}
	}
	return nil
}

// Item is one input object of a mini-batch.
type Item struct {
	// Key is relative to the job's input root; in JSON it is a Name, so
	// that a local file name that is not UTF-8 keeps its bytes.
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag,omitempty"`
}

// MiniBatch is the work-queue message: references, never data.
type MiniBatch struct {
	JobID string `json:"job_id"`
	// Index is the mini-batch's position in listing order, from 0.
	Index int64 `json:"index"`
	// Items are the files of a file input's mini-batch; a tabular
	// mini-batch holds its object here too (one item) and its part in Piece.
	Items []Item `json:"items"`
	// Piece is the part of a tabular input this mini-batch holds.
	Piece *Piece `json:"piece,omitempty"`
	// Partition maps each partition_keys name to its value for this
	// mini-batch (run()'s mini_batch_context.partition_key_value).
	Partition PartitionKeyValue `json:"partition,omitempty"`
	// PartitionValues are the same values in the order of partition_keys,
	// each typed as run()'s data holds it (PartitionContext reads either).
	PartitionValues PartitionValues `json:"partition_values,omitempty"`
	// ItemsKey, when set, names an object under the job's staging root that
	// holds Items (a JSON array): a partition_keys group of files too large
	// for one message. ItemsCount is then the number of items.
	ItemsKey   string `json:"items_key,omitempty"`
	ItemsCount int    `json:"items_count,omitempty"`
	// Generation is the publishing generation the message belongs to (0
	// for the first submit, one more for each resume): NumDelivered starts
	// again in each, so a worker adds the deliveries of earlier ones
	// (BatchDeliveries) to count a batch's tries.
	Generation int `json:"generation,omitempty"`
}

// ItemCount is the number of items of the mini-batch as far as its message
// tells: its files, or a tabular piece's rows. A JSON Lines piece's rows are
// counted when it is read; until then (a piece that fails before it is
// read) it counts as one item, so that its failure is never a silent loss.
func (m *MiniBatch) ItemCount() int {
	if m.Piece != nil {
		return max(int(m.Piece.Rows), 1)
	}
	if m.ItemsKey != "" {
		return m.ItemsCount
	}
	return len(m.Items)
}

// MsgID is the JetStream deduplication id of a mini-batch message in a
// publishing generation (0 for the first submit, one more for each resume).
func (m *MiniBatch) MsgID(generation int) string {
	return fmt.Sprintf("%s.%d.%d", m.JobID, m.Index, generation)
}

// BatchOutcome is a mini-batch's final record in KV, written once by the
// first process to finish it (KV Create); it is the gate that makes counting
// and the final rows exactly-once. It holds every field of its attempt's
// row in the job report, so that the row is there even when the worker's
// own records died with it.
type BatchOutcome struct {
	Index int64 `json:"index"`
	// Attempt is the attempt that produced this outcome (1-based), counted
	// as run_max_try counts tries.
	Attempt int `json:"attempt"`
	// Result is the attempt's result in the job report: ResultSucceeded,
	// ResultPartial, ResultFailed or ResultLost ("" in outcomes recorded
	// before the field).
	Result string `json:"result,omitempty"`
	// OK is false when the mini-batch failed: an error on its last try, or fewer
	// rows returned than items given.
	OK        bool `json:"ok"`
	Items     int  `json:"items"`
	Succeeded int  `json:"succeeded"`
	Failed    int  `json:"failed"`
	// ResultKey holds the batch's rows, relative to the job's staging root;
	// empty when no rows were returned or Rows holds them.
	ResultKey string `json:"result_key,omitempty"`
	// Rows holds the batch's rows themselves when they are small
	// (Config.InlineRowsMax), instead of an object under ResultKey; at most
	// one of the two is set.
	Rows []byte `json:"rows,omitempty"`
	// FilesKey is the folder (a key prefix ending in "/", relative to the
	// job's staging root) of the files this attempt's script wrote to its
	// output_dir; empty when it wrote none. The finaliser copies them to the
	// job's output.
	FilesKey  string `json:"files_key,omitempty"`
	ErrorType string `json:"error_type,omitempty"`
	Error     string `json:"error,omitempty"`
	Worker    string `json:"worker,omitempty"`
	// Host, PID, Start, Seconds and FirstItem say where and when the
	// attempt ran, as its AttemptRecord does.
	Host      string    `json:"host,omitempty"`
	PID       int       `json:"pid,omitempty"`
	Start     time.Time `json:"start,omitzero"`
	Seconds   float64   `json:"seconds,omitempty"`
	FirstItem string    `json:"first_item,omitempty"`
	// ExtraCalls is the number of run() calls an isolation
	// (isolate_failures) added to the attempt, as its AttemptRecord has it.
	ExtraCalls int `json:"extra_calls,omitempty"`
	// Counted is set once the outcome's counter increments have been accepted.
	Counted  bool      `json:"counted,omitempty"`
	Finished time.Time `json:"finished"`
}

// BatchDeliveries is what KV keeps of a mini-batch's deliveries, across
// publishing generations: a worker notes each delivery before it works on
// it, so that a delivery that dies with its worker, or is purged by a
// resume, still counts.
type BatchDeliveries struct {
	// Delivered maps a publishing generation to the highest NumDelivered
	// seen in it.
	Delivered map[int]int `json:"delivered"`
	// HandedBack counts the deliveries sent back on a storage or broker
	// error, or because their worker stopped: they spend no try.
	HandedBack int `json:"handed_back,omitempty"`
}

// Total is the number of deliveries in every generation.
func (d BatchDeliveries) Total() int {
	n := 0
	for _, k := range d.Delivered {
		n += k
	}
	return n
}

// Job states.
const (
	StateRunning   = "Running"
	StateCompleted = "Completed"
	StateFailed    = "Failed"
	StateCancelled = "Cancelled"
)

// JobState is the job's state record in KV, changed only by compare-and-swap.
type JobState struct {
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Sealed is set when the producer has published every mini-batch;
	// TotalBatches and TotalItems are final from then on. A watch's window
	// is recorded open (not sealed), its totals growing as its mini-batches
	// are published, and sealed when the window closes.
	Sealed       bool  `json:"sealed"`
	TotalBatches int64 `json:"total_batches"`
	// TotalItems is -1 when unknown: a tabular input with JSON Lines files,
	// whose rows are counted as they are read.
	TotalItems int64 `json:"total_items"`
	// Generation counts the times the job was resumed; it is part of the
	// mini-batch message ids, so a resume is not taken for a duplicate.
	Generation  int       `json:"generation,omitempty"`
	Output      string    `json:"output"`
	FinalObject string    `json:"final_object,omitempty"`
	ReusedFrom  string    `json:"reused_from,omitempty"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	Finished    time.Time `json:"finished,omitzero"`
	// Expired is when the job's per-batch records (outcomes, counters,
	// storage-error counts, isolation marks) were removed, its retention
	// past; Counts then holds its counters as they were.
	Expired time.Time `json:"expired,omitzero"`
	Counts  *Counters `json:"counts,omitempty"`
}

// Terminal reports whether the state no longer changes.
func (s *JobState) Terminal() bool {
	return s.State == StateCompleted || s.State == StateFailed || s.State == StateCancelled
}

// Counters is a snapshot of a job's counters.
type Counters struct {
	// Done counts mini-batches with a final outcome, successful or not.
	Done int64 `json:"done"`
	// FailedBatches counts mini-batches whose final outcome is a failure.
	FailedBatches  int64 `json:"failed_batches"`
	ItemsSucceeded int64 `json:"items_succeeded"`
	ItemsFailed    int64 `json:"items_failed"`
	// Retried counts failed attempts that were tried again.
	Retried int64 `json:"retried"`
}
