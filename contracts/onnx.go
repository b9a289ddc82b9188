package contracts

import (
	"fmt"
	"strings"
)

// HandlerONNX scores with the built-in ONNX Runtime handler.
const HandlerONNX = "onnx"

// ONNXConfig holds the settings of the ONNX handler, under "onnx:" in a job
// configuration. Zero fields take the defaults that their comments give.
type ONNXConfig struct {
	// Model is the .onnx file: a local path or an object URI, fetched once
	// per worker and cached by content hash (required).
	Model string `json:"model"`
	// Library is the ONNX Runtime shared library (default $PRS_ORT_LIB, then
	// lib/libonnxruntime.so.1).
	Library string `json:"library,omitempty"`
	// InputName and OutputName (default the model's first input and output).
	InputName  string `json:"input_name,omitempty"`
	OutputName string `json:"output_name,omitempty"`
	// ModelBatchSize is the number of items in one Run (default 32),
	// independent of mini_batch_size.
	ModelBatchSize int `json:"model_batch_size,omitempty"`
	// ExecutionProvider is cpu (default), cuda or tensorrt.
	ExecutionProvider string `json:"execution_provider,omitempty"`
	// DeviceIDs are the GPUs slots are spread over, slot i on
	// DeviceIDs[i % len] (default [0]).
	DeviceIDs []int `json:"device_ids,omitempty"`
	// IntraOpThreads and InterOpThreads of each session (default 0: ORT's own).
	IntraOpThreads int `json:"intra_op_threads,omitempty"`
	InterOpThreads int `json:"inter_op_threads,omitempty"`
	// IOBinding runs the model through an ONNX Runtime I/O binding of the
	// handler's input and output tensors instead of Run (default false). It
	// needs a float32 output whose shape is fixed but for the batch, and a
	// model run in progress is not stopped by run_invocation_timeout or a
	// cancel (the binding API takes no run options): the mini-batch ends
	// when that run does.
	IOBinding bool `json:"io_binding,omitempty"`
	// CUDA holds options of the CUDA execution provider, for
	// execution_provider cuda or tensorrt (whose CUDA fallback they tune).
	CUDA CUDAOptions `json:"cuda,omitzero"`
	// Labels names a side input (or a path or URI) with one label per line,
	// for argmax and topk rows.
	Labels string `json:"labels,omitempty"`
	// Preprocess says how an input file becomes a tensor.
	Preprocess Preprocess `json:"preprocess"`
	// Postprocess says how an output becomes a row.
	Postprocess Postprocess `json:"postprocess"`
}

// CUDA execution provider options of onnx.cuda (ONNX Runtime's names).
const (
	CuDNNExhaustive = "EXHAUSTIVE"
	CuDNNHeuristic  = "HEURISTIC"
	CuDNNDefault    = "DEFAULT"

	ArenaNextPowerOfTwo  = "kNextPowerOfTwo"
	ArenaSameAsRequested = "kSameAsRequested"
)

// CUDAOptions are ONNX Runtime's CUDA provider options that a job may set;
// zero values leave ONNX Runtime's defaults.
type CUDAOptions struct {
	// PreferNHWC lets the provider run convolutions in NHWC layout inside
	// the model (prefer_nhwc; the input keeps preprocess.layout).
	PreferNHWC bool `json:"prefer_nhwc,omitempty"`
	// CuDNNConvAlgoSearch is how cuDNN picks a convolution algorithm:
	// EXHAUSTIVE (ONNX Runtime's default: benchmark each on the first
	// runs), HEURISTIC or DEFAULT.
	CuDNNConvAlgoSearch string `json:"cudnn_conv_algo_search,omitempty"`
	// ArenaExtendStrategy is how the device memory arena grows:
	// kNextPowerOfTwo (ONNX Runtime's default) or kSameAsRequested.
	ArenaExtendStrategy string `json:"arena_extend_strategy,omitempty"`
	// GPUMemLimit bounds the device memory arena, a size such as 8GB
	// (default: no bound).
	GPUMemLimit string `json:"gpu_mem_limit,omitempty"`
}

// set names the first option that is set, "" for none.
func (o CUDAOptions) set() string {
	switch {
	case o.PreferNHWC:
		return "prefer_nhwc"
	case o.CuDNNConvAlgoSearch != "":
		return "cudnn_conv_algo_search"
	case o.ArenaExtendStrategy != "":
		return "arena_extend_strategy"
	case o.GPUMemLimit != "":
		return "gpu_mem_limit"
	}
	return ""
}

// Preprocess declares how items become model input.
type Preprocess struct {
	// Kind is image (default), npy or tabular.
	Kind string `json:"kind,omitempty"`
	// Mode is rgb or grayscale, for images (default: grayscale for a model
	// input with one channel, else rgb).
	Mode string `json:"mode,omitempty"`
	// Resize is shorter_side (resize the shorter side to ResizeTo, then
	// center-crop to Size), exact (resize to Size) or none (default: the
	// image must already have Size).
	Resize   string `json:"resize,omitempty"`
	ResizeTo int    `json:"resize_to,omitempty"`
	// Size is [height, width] (default: the model input's, when fixed).
	Size []int `json:"size,omitempty"`
	// Scale multiplies each pixel value (0-255) first (default 1/255 for
	// float32, 1 for uint8); for kind tabular it multiplies each feature
	// value (default 1).
	Scale float64 `json:"scale,omitempty"`
	// Mean and Std per channel: (value*scale - mean) / std (defaults 0 and
	// 1); for kind tabular one value for every column or one per column.
	Mean []float64 `json:"mean,omitempty"`
	Std  []float64 `json:"std,omitempty"`
	// Layout is nchw (default) or nhwc.
	Layout string `json:"layout,omitempty"`
	// DType is float32 (default) or uint8.
	DType string `json:"dtype,omitempty"`
	// JPEGDecoder decodes JPEG images: auto (default: libjpeg-turbo where
	// the worker has it, else Go's image/jpeg), std (Go's) or turbo
	// (libjpeg-turbo, which the worker must have).
	JPEGDecoder string `json:"jpeg_decoder,omitempty"`
	// Columns are the feature columns of tabular rows, in model order
	// (required with kind tabular): their count is the number of values of
	// one item of the model input.
	Columns []string `json:"columns,omitempty"`
	// IDColumn names the column whose value names each tabular row in the
	// output ("<id>: <label>"; "id" in json rows). Unset, rows are not
	// named and follow the mini-batch's row order.
	IDColumn string `json:"id_column,omitempty"`
}

// Postprocess declares how model output becomes rows.
type Postprocess struct {
	// Kind is argmax (default), topk, softmax or raw.
	Kind string `json:"kind,omitempty"`
	// TopK is K for topk (default 5).
	TopK int `json:"top_k,omitempty"`
	// Softmax applies softmax to the output before argmax or topk scores.
	Softmax bool `json:"softmax,omitempty"`
	// Format is text (default: "<file name>: <label or index>"; for kind
	// tabular "<id>: <label or index>" with id_column, else the label or
	// index alone) or json.
	Format string `json:"format,omitempty"`
}

// validateONNX checks what spans the keys of handler onnx; each key's own
// range or values are checked with the other settings'.
func (c *Config) validateONNX() error {
	o := c.ONNX
	if o == nil || strings.TrimSpace(o.Model) == "" {
		return invalid("onnx.model", "is required with handler onnx")
	}
	p := o.Preprocess
	switch p.Kind {
	case "", "image", "npy":
		if c.Tabular() {
			kind := p.Kind
			if kind == "" {
				kind = "image (the default)"
			}
			return invalid("onnx.preprocess.kind", "kind %s scores files, but input %q is tabular: use kind tabular with onnx.preprocess.columns", kind, c.Input)
		}
	case "tabular":
		if err := c.validateTabularONNX(); err != nil {
			return err
		}
	}
	if p.Resize == "shorter_side" && p.ResizeTo < 1 {
		return invalid("onnx.preprocess.resize_to", "is required with resize shorter_side")
	}
	if len(p.Size) != 0 && len(p.Size) != 2 {
		return invalid("onnx.preprocess.size", "must be [height, width], got %v", p.Size)
	}
	for _, s := range p.Std {
		if s == 0 {
			return invalid("onnx.preprocess.std", "must not hold 0")
		}
	}
	return o.validateCUDA()
}

// validateCUDA checks onnx.cuda: its options need a provider that uses
// CUDA, and gpu_mem_limit is a size.
func (o *ONNXConfig) validateCUDA() error {
	key := o.CUDA.set()
	if key == "" {
		return nil
	}
	if p := o.ExecutionProvider; p == "" || p == "cpu" {
		return invalid("onnx.cuda."+key, "is an option of the CUDA execution provider, and this job runs on the CPU: set execution_provider cuda or tensorrt, or remove onnx.cuda")
	}
	if o.CUDA.GPUMemLimit != "" {
		if _, err := ParseSize(o.CUDA.GPUMemLimit); err != nil {
			return &FieldError{Field: "onnx.cuda.gpu_mem_limit", Err: fmt.Errorf("%w: %w", ErrInvalid, err)}
		}
	}
	return nil
}

// validateTabularONNX checks the settings of preprocess kind tabular.
func (c *Config) validateTabularONNX() error {
	p := c.ONNX.Preprocess
	if !c.Tabular() && !c.InputUndecided() {
		return invalid("onnx.preprocess.kind", "kind tabular scores the rows of a tabular input, but input %q is files (set input_format, or name one .csv, .jsonl or .parquet file)", c.Input)
	}
	if len(p.Columns) == 0 {
		return invalid("onnx.preprocess.columns", "is required with kind tabular: the feature columns, in the model's order")
	}
	for i, col := range p.Columns {
		if strings.TrimSpace(col) == "" {
			return invalid("onnx.preprocess.columns", "column %d has no name", i)
		}
	}
	if p.IDColumn != "" && strings.TrimSpace(p.IDColumn) == "" {
		return invalid("onnx.preprocess.id_column", "is blank")
	}
	for _, f := range []struct {
		field string
		vs    []float64
	}{{"onnx.preprocess.mean", p.Mean}, {"onnx.preprocess.std", p.Std}} {
		if n := len(f.vs); n > 1 && n != len(p.Columns) {
			return invalid(f.field, "has %d values for %d columns: give one value, or one per column", n, len(p.Columns))
		}
	}
	return nil
}
