package contracts

import "math"

// Limits of the numeric settings. Each is a sane bound rather than what an
// int holds: a larger value is a mistake (run_invocation_timeout:
// 9223372036854775807 would overflow a duration), refused with the limit.
const (
	// MaxCount bounds error_threshold and allowed_failed_count, as
	// ParallelRunConfig's int.max.
	MaxCount = math.MaxInt32
	// MaxRunInvocationTimeout is 3 days in seconds, Azure ML's own bound of
	// a parallel job's retry_settings.timeout.
	MaxRunInvocationTimeout = 259200
	// MaxRunMaxTry bounds run_max_try.
	MaxRunMaxTry = 100
	// MaxIsolateCalls bounds isolate_max_calls: isolating every item of the
	// largest mini-batch of files takes about twice its 10000 items.
	MaxIsolateCalls = 100000
	// MaxProcessCountPerNode bounds process_count_per_node (slots).
	MaxProcessCountPerNode = 1024
	// MaxNodeCount bounds node_count.
	MaxNodeCount = 1024
	// MaxResourceMonitorInterval is a day in seconds.
	MaxResourceMonitorInterval = 86400
	// MaxFilesPerBatch bounds a file input's mini_batch_size: a mini-batch
	// message lists its files, and NATS refuses messages over 1 MiB by
	// default.
	MaxFilesPerBatch = 10000
	// MaxInlineRows bounds inline_rows_max: rows held in an outcome record
	// are base64 in its JSON (4/3 of their size), and the record must stay
	// under NATS's default max_payload of 1 MiB with room for its other
	// fields; 512 KiB gives 683 KiB.
	MaxInlineRows = 512 << 10
	// MaxSize bounds a size setting (a tabular mini_batch_size,
	// partition_max_size): 1TB.
	MaxSize = 1 << 40
)

// finite bounds a number only by being finite.
const finite = math.MaxFloat64

// settings is the table of job settings: the top-level keys, then the
// onnx: section.
//
// To add a key: add its field to Config (or ONNXConfig) with a JSON name
// equal to the key, its default (if not the zero value) to DefaultConfig,
// and one line to topSettings (or onnxSettings) with its help, its bounds or
// Values, and a getter of its field. internal/jobconfig then reads it from
// YAML (prs's and, where it maps, Azure ML v2's) and from its kebab-case
// flag, and Validate checks its range or values; checks that span keys go
// in Validate.
var settings = append(append([]Setting(nil), topSettings...), onnxSettings...)

// topSettings are the top-level keys, in the README's order.
var topSettings = []Setting{
	{Key: "entry_script", Help: "the entry script; relative to source_directory when set",
		field: top(func(c *Config) *string { return &c.EntryScript })},
	{Key: "source_directory", Help: "folder shipped to every worker (the script can open its neighbours)",
		field: top(func(c *Config) *string { return &c.SourceDirectory })},
	{Key: "arguments", Flag: "-", Help: "the script's argv; {side_inputs.NAME} becomes that side input's local path (on the command line: after --)",
		field: top(func(c *Config) *[]string { return &c.Arguments })},
	{Key: "side_inputs", Flag: "side-input", Help: "NAME=URI of a side input, fetched once per worker, never partitioned (repeatable)",
		field: top(func(c *Config) *map[string]string { return &c.SideInputs })},
	{Key: "models", Flag: "model", Help: "NAME=URI of a model for the script's Model.get_model_path(NAME): a local file or folder (shipped with the job) or an s3:// object or prefix, fetched once per worker (repeatable)",
		field: top(func(c *Config) *map[string]string { return &c.Models })},
	{Key: "input", Help: "input: s3://bucket/prefix or a local folder (or one .csv, .jsonl or .parquet file)",
		field: top(func(c *Config) *string { return &c.Input })},
	{Key: "include", Help: "glob of input files to include (repeatable)",
		field: top(func(c *Config) *[]string { return &c.Include })},
	{Key: "follow_symlinks", Help: "follow a local input's symbolic links that lead out of the input folder (default false: skipped with a warning)",
		field: top(func(c *Config) *bool { return &c.FollowSymlinks })},
	{Key: "output", Help: "output: s3://bucket/prefix or a local folder",
		field: top(func(c *Config) *string { return &c.Output })},
	{Key: "mini_batch_size", Help: "files per mini-batch, 1 to 10000 (default 10); for a tabular input a size such as 64KB or 10MB, at most 1TB (default 1MB)",
		field: top(func(c *Config) *string { return &c.MiniBatchSize })},
	{Key: "input_format", Help: "makes the input tabular (default: files, unless the input names one table file, or its files are all tables and mini_batch_size is a size)",
		Values: []string{InputFormatCSV, InputFormatJSONL, InputFormatParquet, InputFormatAuto}, ZeroDefault: true,
		field: top(func(c *Config) *string { return &c.InputFormat })},
	{Key: "output_format", Help: "how append_row writes the rows (default: ParallelRunStep's text lines)",
		Values: []string{OutputFormatCSV, OutputFormatJSONL, OutputFormatParquet}, ZeroDefault: true,
		field: top(func(c *Config) *string { return &c.OutputFormat })},
	{Key: "partition_keys", Comma: true, Help: "comma-separated columns (tabular) or partition_format names (files) whose equal values share a mini-batch",
		field: top(func(c *Config) *[]string { return &c.PartitionKeys })},
	{Key: "partition_format", Help: "names the path segments of a file input, such as /{user}/{genre}/{filename}.wav",
		field: top(func(c *Config) *string { return &c.PartitionFormat })},
	{Key: "partition_max_size", Help: "largest partition_keys group of a tabular input, a size up to 1TB (default 1GB)",
		field: top(func(c *Config) *string { return &c.PartitionMaxSize })},
	{Key: "error_threshold", Help: "failed items tolerated; -1 tolerates all", Min: -1, Max: MaxCount,
		field: top(func(c *Config) *int { return &c.ErrorThreshold })},
	{Key: "allowed_failed_count", Help: "failed mini-batches tolerated; -1 is unset", Min: -1, Max: MaxCount,
		field: top(func(c *Config) *int { return &c.AllowedFailedCount })},
	{Key: "allowed_failed_percent", Help: "percentage of failed mini-batches tolerated", Min: 0, Max: 100,
		field: top(func(c *Config) *float64 { return &c.AllowedFailedPercent })},
	{Key: "output_action", Help: "summary_only writes no final file", Values: []string{OutputAppendRow, OutputSummaryOnly},
		field: top(func(c *Config) *string { return &c.OutputAction })},
	{Key: "append_row_file_name", Help: "name of the final file",
		field: top(func(c *Config) *string { return &c.AppendRowFileName })},
	{Key: "inline_rows_max", Help: "largest rows of a mini-batch kept in its outcome record in JetStream instead of an object of their own; 0: always an object", Min: 0, Max: MaxInlineRows, Unit: "bytes",
		field: top(func(c *Config) *int { return &c.InlineRowsMax })},
	{Key: "run_invocation_timeout", Help: "time one run() may take", Min: 1, Max: MaxRunInvocationTimeout, Unit: "seconds",
		field: top(func(c *Config) *int { return &c.RunInvocationTimeout })},
	{Key: "run_max_try", Help: "attempts per mini-batch, counting attempts lost to a dead worker", Min: 1, Max: MaxRunMaxTry,
		field: top(func(c *Config) *int { return &c.RunMaxTry })},
	{Key: "run_result_max_size", Help: "largest answer of one run() call (its rows as JSON), a size up to 1TB (default 1GB, or twice a larger tabular mini_batch_size or partition_max_size); a larger answer fails that attempt",
		field: top(func(c *Config) *string { return &c.RunResultMaxSize })},
	{Key: "isolate_failures", Help: "a mini-batch whose run() fails on its last try is run again in halves until single items fail alone; the other items' rows are kept (default false: the whole mini-batch fails, as in ParallelRunStep)",
		field: top(func(c *Config) *bool { return &c.IsolateFailures })},
	{Key: "isolate_max_calls", Help: "most extra run() calls of one mini-batch's isolation (default 64); the items still undecided then fail together", Min: 1, Max: MaxIsolateCalls, ZeroDefault: true,
		field: top(func(c *Config) *int { return &c.IsolateMaxCalls })},
	{Key: "process_count_per_node", Help: "concurrent slots per worker of prs run (a fleet worker uses --slots)", Min: 1, Max: MaxProcessCountPerNode,
		field: top(func(c *Config) *int { return &c.ProcessCountPerNode })},
	{Key: "node_count", Help: "prs run: local worker processes, each with process_count_per_node slots; a fleet records it as the job's desired number of workers", Min: 1, Max: MaxNodeCount,
		field: top(func(c *Config) *int { return &c.NodeCount })},
	{Key: "logging_level", Help: "level of the EntryScript logger and of prs's own logs", Values: []string{"DEBUG", "INFO", "WARNING"},
		field: top(func(c *Config) *string { return &c.LoggingLevel })},
	{Key: "allow_reuse", Help: "return an identical completed job's output without running",
		field: top(func(c *Config) *bool { return &c.AllowReuse })},
	{Key: "keep_staging", Help: "keep the rows and output_dir files staged under output/.prs/<job>/ (and the shipped source) after the job ends, for debugging (default false: removed; the output_dir files copied to the output stay)",
		field: top(func(c *Config) *bool { return &c.KeepStaging })},
	{Key: "handler", Help: "what scores the items: the entry script, or the built-in ONNX handler", Values: []string{HandlerEntryScript, HandlerONNX}, Extensible: true,
		field: top(func(c *Config) *string { return &c.Handler })},
	{Key: "interpreter", Help: "program that runs the entry script",
		field: top(func(c *Config) *string { return &c.Interpreter })},
	{Key: "environment_variables", Flag: "environment-variable", Help: "NAME=VALUE set in the entry script's environment (repeatable; names PRS_* are prs's own)",
		field: top(func(c *Config) *map[string]string { return &c.EnvironmentVariables })},
	{Key: "environment_passthrough", Comma: true, Help: "comma-separated variables of the worker's environment (NAME, or PREFIX*) the entry script gets besides the default allow-list",
		field: top(func(c *Config) *[]string { return &c.EnvironmentPassthrough })},
	{Key: "resource_monitor_interval", Help: "time between CPU, memory, disk and GPU samples in logs/perf; 0 turns them off", Min: 0, Max: MaxResourceMonitorInterval, Unit: "seconds",
		field: top(func(c *Config) *int { return &c.ResourceMonitorInterval })},
}

// onnxSettings are the keys under onnx: (handler onnx); their zero values
// take the defaults that ONNXConfig's comments give.
var onnxSettings = []Setting{
	{Key: "onnx.model", Help: "the .onnx model: a local path or an object URI (required with handler onnx)",
		field: inONNX(func(o *ONNXConfig) *string { return &o.Model })},
	{Key: "onnx.library", Help: "the ONNX Runtime library (default $PRS_ORT_LIB, then lib/libonnxruntime.so.1)",
		field: inONNX(func(o *ONNXConfig) *string { return &o.Library })},
	{Key: "onnx.input_name", Help: "the model input to use (default its first)",
		field: inONNX(func(o *ONNXConfig) *string { return &o.InputName })},
	{Key: "onnx.output_name", Help: "the model output to use (default its first)",
		field: inONNX(func(o *ONNXConfig) *string { return &o.OutputName })},
	{Key: "onnx.model_batch_size", Help: "items per ONNX Runtime run (default 32)", Min: 1, Max: 65536, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *int { return &o.ModelBatchSize })},
	{Key: "onnx.execution_provider", Help: "where the model runs (default cpu)", Values: []string{"cpu", "cuda", "tensorrt"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.ExecutionProvider })},
	{Key: "onnx.device_ids", Comma: true, Help: "comma-separated GPUs the slots are spread over (default 0)", Min: 0, Max: 1023,
		field: inONNX(func(o *ONNXConfig) *[]int { return &o.DeviceIDs })},
	{Key: "onnx.intra_op_threads", Help: "threads within an operator (default ONNX Runtime's)", Min: 1, Max: 1024, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *int { return &o.IntraOpThreads })},
	{Key: "onnx.inter_op_threads", Help: "threads across operators (default ONNX Runtime's)", Min: 1, Max: 1024, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *int { return &o.InterOpThreads })},
	{Key: "onnx.io_binding", Help: "run the model through an I/O binding of its input and output (a run in progress is then not stopped by a timeout)",
		field: inONNX(func(o *ONNXConfig) *bool { return &o.IOBinding })},
	{Key: "onnx.cuda.prefer_nhwc", Help: "CUDA provider: convolutions in NHWC layout inside the model (cuda, tensorrt)",
		field: inONNX(func(o *ONNXConfig) *bool { return &o.CUDA.PreferNHWC })},
	{Key: "onnx.cuda.cudnn_conv_algo_search", Help: "CUDA provider: how cuDNN picks convolution algorithms (default EXHAUSTIVE)",
		Values: []string{CuDNNExhaustive, CuDNNHeuristic, CuDNNDefault}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.CUDA.CuDNNConvAlgoSearch })},
	{Key: "onnx.cuda.arena_extend_strategy", Help: "CUDA provider: how the device memory arena grows (default kNextPowerOfTwo)",
		Values: []string{ArenaNextPowerOfTwo, ArenaSameAsRequested}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.CUDA.ArenaExtendStrategy })},
	{Key: "onnx.cuda.gpu_mem_limit", Help: "CUDA provider: bound of the device memory arena, a size such as 8GB (default none)",
		field: inONNX(func(o *ONNXConfig) *string { return &o.CUDA.GPUMemLimit })},
	{Key: "onnx.labels", Help: "a side input's name, a path or a URI: one label per line",
		field: inONNX(func(o *ONNXConfig) *string { return &o.Labels })},
	{Key: "onnx.preprocess.kind", Help: "how an item becomes a tensor (default image)", Values: []string{"image", "npy", "tabular"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.Kind })},
	{Key: "onnx.preprocess.mode", Help: "image colours (default by the model's channels)", Values: []string{"rgb", "grayscale"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.Mode })},
	{Key: "onnx.preprocess.resize", Help: "how an image is resized (default none)", Values: []string{"none", "exact", "shorter_side"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.Resize })},
	{Key: "onnx.preprocess.resize_to", Help: "shorter side in pixels, for resize shorter_side", Min: 1, Max: 65536, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *int { return &o.Preprocess.ResizeTo })},
	{Key: "onnx.preprocess.size", Comma: true, Help: "height,width in pixels (default the model input's)", Min: 1, Max: 65536,
		field: inONNX(func(o *ONNXConfig) *[]int { return &o.Preprocess.Size })},
	{Key: "onnx.preprocess.scale", Help: "multiplies each value first (default 1/255 for float32 images, else 1)", Min: -finite, Max: finite, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *float64 { return &o.Preprocess.Scale })},
	{Key: "onnx.preprocess.mean", Comma: true, Help: "comma-separated means per channel or column (default 0)", Min: -finite, Max: finite,
		field: inONNX(func(o *ONNXConfig) *[]float64 { return &o.Preprocess.Mean })},
	{Key: "onnx.preprocess.std", Comma: true, Help: "comma-separated standard deviations per channel or column (default 1)", Min: -finite, Max: finite,
		field: inONNX(func(o *ONNXConfig) *[]float64 { return &o.Preprocess.Std })},
	{Key: "onnx.preprocess.layout", Help: "tensor layout (default nchw)", Values: []string{"nchw", "nhwc"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.Layout })},
	{Key: "onnx.preprocess.dtype", Help: "tensor element type (default float32)", Values: []string{"float32", "uint8"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.DType })},
	{Key: "onnx.preprocess.jpeg_decoder", Help: "JPEG decoder: libjpeg-turbo where the worker has it (auto), Go's (std), or libjpeg-turbo required (turbo)",
		Values: []string{"auto", "std", "turbo"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.JPEGDecoder })},
	{Key: "onnx.preprocess.columns", Comma: true, Help: "comma-separated feature columns in model order (kind tabular)",
		field: inONNX(func(o *ONNXConfig) *[]string { return &o.Preprocess.Columns })},
	{Key: "onnx.preprocess.id_column", Help: "the column that names each row (kind tabular)",
		field: inONNX(func(o *ONNXConfig) *string { return &o.Preprocess.IDColumn })},
	{Key: "onnx.postprocess.kind", Help: "how an output becomes a row (default argmax)", Values: []string{"argmax", "topk", "softmax", "raw"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Postprocess.Kind })},
	{Key: "onnx.postprocess.top_k", Help: "K for topk (default 5)", Min: 1, Max: 100000, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *int { return &o.Postprocess.TopK })},
	{Key: "onnx.postprocess.softmax", Help: "softmax before argmax or topk scores",
		field: inONNX(func(o *ONNXConfig) *bool { return &o.Postprocess.Softmax })},
	{Key: "onnx.postprocess.format", Help: "row format (default text)", Values: []string{"text", "json"}, ZeroDefault: true,
		field: inONNX(func(o *ONNXConfig) *string { return &o.Postprocess.Format })},
}
