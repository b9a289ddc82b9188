package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/producer"
)

// Config configures Run. DefaultConfig gives every default. Run takes an
// empty string or list for its default, and rejects a number below 1 where
// the default is a number.
type Config struct {
	// Model is the .onnx file (required).
	Model string
	// Images is the number of JPEG files each stage scores (default 2048).
	Images int
	// Size is their height and width in pixels (default 224).
	Size int
	// ModelBatchSize is onnx.model_batch_size: items per ONNX Runtime run,
	// and the batch of the raw stage's tensors (default 64).
	ModelBatchSize int
	// MiniBatchSize is the job's mini_batch_size (default 256).
	MiniBatchSize int
	// Slots is the worker's slots in the pipeline stage (default 1).
	Slots int
	// ExecutionProvider is cpu (default) or cuda.
	ExecutionProvider string
	// DeviceIDs are onnx.device_ids (default [0]); the raw stage uses the
	// first.
	DeviceIDs []int
	// IntraOpThreads is onnx.intra_op_threads (default 0: ONNX Runtime's).
	IntraOpThreads int
	// ImageWidth and ImageHeight are the JPEG files' size (default Size x
	// Size). Files of another size than the model's need ResizeTo.
	ImageWidth, ImageHeight int
	// ResizeTo, when set, resizes each image's shorter side to it and crops
	// the centre Size x Size (onnx.preprocess.resize shorter_side, as
	// ImageNet's evaluation does: 256 for 224); 0 (default) takes the
	// images as they are (resize none).
	ResizeTo int
	// JPEGDecoder is onnx.preprocess.jpeg_decoder: auto (default), std or
	// turbo, for every stage that decodes.
	JPEGDecoder string
	// IOBinding is onnx.io_binding of the handler and pipeline stages (the
	// raw stage runs the model with Run).
	IOBinding bool
	// CUDA is onnx.cuda, the CUDA provider's options (execution provider
	// cuda only), for the raw, handler and pipeline stages.
	CUDA contracts.CUDAOptions
	// Library is the ONNX Runtime library (default $PRS_ORT_LIB, then
	// lib/libonnxruntime.so.1; see onnx.ResolveLibrary).
	Library string
	// WorkDir is where Run makes its folder for images, the JetStream
	// server's files and the job's output (default the system's temporary
	// folder). The folder is removed at the end unless Keep is set.
	WorkDir string
	Keep    bool
	// Seed makes the images (any value; DefaultConfig's is 1); Quality is
	// their JPEG quality (default 90).
	Seed    uint64
	Quality int
	// Preflight is the producer's check of a job before it is submitted
	// (default what prs run does for handler onnx: onnx.Check of the local
	// model).
	Preflight func(ctx context.Context, c *contracts.Config, local producer.Local) error
	// Logger receives the runtime's and the handler's logs (default a
	// logger that keeps warnings and errors, on os.Stderr).
	Logger *slog.Logger
	// Progress receives one line as each stage starts (default none).
	Progress io.Writer
}

// DefaultConfig returns the defaults, with no model.
func DefaultConfig() Config {
	return Config{
		Images: 2048, Size: 224, ModelBatchSize: 64, MiniBatchSize: 256, Slots: 1,
		ExecutionProvider: "cpu", DeviceIDs: []int{0}, Seed: 1, Quality: 90,
	}
}

// ErrInvalid is wrapped by the errors of a Config that cannot run.
var ErrInvalid = errors.New("invalid benchmark setting")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// maxImages bounds Images: a million 224x224 JPEG files take some 20 GB.
const maxImages = 1_000_000

func (c *Config) validate() error {
	if c.Model == "" {
		return invalid("model is required (--model PATH)")
	}
	for _, f := range []struct {
		name string
		v    int
		max  int
	}{
		{"images", c.Images, maxImages},
		{"size", c.Size, 4096},
		{"model-batch-size", c.ModelBatchSize, 1 << 16},
		{"mini-batch-size", c.MiniBatchSize, 1 << 20},
		{"slots", c.Slots, 256},
		{"quality", c.Quality, 100},
	} {
		if f.v < 1 || f.v > f.max {
			return invalid("%s must be from 1 to %d, got %d", f.name, f.max, f.v)
		}
	}
	switch c.ExecutionProvider {
	case "":
		c.ExecutionProvider = "cpu"
	case "cpu", "cuda":
	default:
		return invalid("execution-provider must be cpu or cuda, got %q", c.ExecutionProvider)
	}
	if err := c.validateImages(); err != nil {
		return err
	}
	if c.CUDA != (contracts.CUDAOptions{}) {
		if c.ExecutionProvider != "cuda" {
			return invalid("the cuda-* options are the CUDA provider's: set execution-provider cuda")
		}
		if _, err := onnx.CUDAProviderOptions(&contracts.ONNXConfig{CUDA: c.CUDA}, 0); err != nil {
			return invalid("%v", err)
		}
	}
	if len(c.DeviceIDs) == 0 {
		c.DeviceIDs = []int{0}
	}
	if slices.ContainsFunc(c.DeviceIDs, func(d int) bool { return d < 0 }) {
		return invalid("device-ids must not be negative, got %v", c.DeviceIDs)
	}
	if c.IntraOpThreads < 0 {
		return invalid("intra-op-threads must not be negative, got %d", c.IntraOpThreads)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// validateImages checks the images' size, resize and decoder.
func (c *Config) validateImages() error {
	if c.ImageWidth == 0 && c.ImageHeight == 0 {
		c.ImageWidth, c.ImageHeight = c.Size, c.Size
	}
	if c.ImageWidth < 1 || c.ImageHeight < 1 || c.ImageWidth > 8192 || c.ImageHeight > 8192 {
		return invalid("image-size must be from 1x1 to 8192x8192, got %dx%d", c.ImageWidth, c.ImageHeight)
	}
	switch {
	case c.ResizeTo < 0 || c.ResizeTo > 8192:
		return invalid("resize-to must be from 0 to 8192, got %d", c.ResizeTo)
	case c.ResizeTo > 0 && c.ResizeTo < c.Size:
		return invalid("resize-to %d is smaller than the crop of size %d", c.ResizeTo, c.Size)
	case c.ResizeTo == 0 && (c.ImageWidth != c.Size || c.ImageHeight != c.Size):
		return invalid("images of %dx%d for a model of %dx%d need resize-to (the shorter side's size before the centre crop)",
			c.ImageWidth, c.ImageHeight, c.Size, c.Size)
	}
	switch c.JPEGDecoder {
	case "", "auto", "std", "turbo":
	default:
		return invalid("jpeg-decoder must be auto, std or turbo, got %q", c.JPEGDecoder)
	}
	return nil
}

// onnxConfig is the job's onnx section for model on provider.
func (c *Config) onnxConfig(model, library, provider string) *contracts.ONNXConfig {
	o := &contracts.ONNXConfig{
		Model:             model,
		Library:           library,
		ModelBatchSize:    c.ModelBatchSize,
		ExecutionProvider: provider,
		DeviceIDs:         slices.Clone(c.DeviceIDs),
		IntraOpThreads:    c.IntraOpThreads,
		Preprocess: contracts.Preprocess{
			Kind: "image", Mode: "rgb", Resize: "none", Size: []int{c.Size, c.Size},
			Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225},
			Layout: "nchw", DType: "float32", JPEGDecoder: c.JPEGDecoder,
		},
		Postprocess: contracts.Postprocess{Kind: "argmax", Format: "text"},
	}
	if c.ResizeTo > 0 {
		o.Preprocess.Resize, o.Preprocess.ResizeTo = "shorter_side", c.ResizeTo
	}
	return o
}
