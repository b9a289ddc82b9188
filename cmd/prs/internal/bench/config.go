package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"

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

// onnxConfig is the job's onnx section for model on provider.
func (c *Config) onnxConfig(model, library, provider string) *contracts.ONNXConfig {
	return &contracts.ONNXConfig{
		Model:             model,
		Library:           library,
		ModelBatchSize:    c.ModelBatchSize,
		ExecutionProvider: provider,
		DeviceIDs:         slices.Clone(c.DeviceIDs),
		IntraOpThreads:    c.IntraOpThreads,
		Preprocess: contracts.Preprocess{
			Kind: "image", Mode: "rgb", Resize: "none", Size: []int{c.Size, c.Size},
			Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225},
			Layout: "nchw", DType: "float32",
		},
		Postprocess: contracts.Postprocess{Kind: "argmax", Format: "text"},
	}
}
