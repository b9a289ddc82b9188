package onnx

import (
	"context"
	"errors"
	"slices"

	"github.com/parallelrun/prs/contracts"
)

// Check is the preflight of a job with handler onnx, for use before the job
// is submitted: it loads the ONNX Runtime library (library, else
// cfg.Library, else $PRS_ORT_LIB, else DefaultLibrary), reads the inputs
// and outputs of the model at modelPath (cfg.Model when ""; a local file),
// checks input_name, output_name and the preprocessing against them (for
// kind tabular: that the model input takes one value per column), and
// for execution_provider cuda or tensorrt opens a session on each of
// device_ids (default 0), so that a missing GPU or provider library shows
// here instead of on every worker.
//
// The errors are those of the handler's Init: a *LibraryError (with the
// install hint), a *ModelError (the file is not a loadable ONNX model), a
// *contracts.FieldError wrapping ErrMismatch (naming the key, and listing
// the model's names or shape), or a *ProviderError.
//
// It loads the library into the calling process, which keeps it; see
// Options.Library.
func Check(ctx context.Context, cfg *contracts.ONNXConfig, modelPath, library string) error {
	if cfg == nil {
		return &contracts.FieldError{Field: "onnx", Err: errors.New("is required with handler onnx")}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := loadLibrary(ResolveLibrary(library, cfg.Library)); err != nil {
		return err
	}
	if modelPath == "" {
		modelPath = cfg.Model
	}
	in, out, err := modelInfo(modelPath)
	if err != nil {
		return err
	}
	p, err := newPlan(cfg, modelPath, in, out)
	if err != nil {
		return err
	}
	if provider(cfg) == "cpu" {
		return nil
	}
	devices := slices.Compact(slices.Sorted(slices.Values(cfg.DeviceIDs)))
	if len(devices) == 0 {
		devices = []int{0}
	}
	for _, d := range devices {
		if err := ctx.Err(); err != nil {
			return err
		}
		s, err := newSession(cfg, modelPath, p, d)
		if err != nil {
			return err
		}
		_ = s.Destroy()
	}
	return nil
}
