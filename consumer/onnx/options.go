package onnx

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
)

// DefaultLibrary is where `go tool task ort` installs ONNX Runtime, relative
// to the working directory.
const DefaultLibrary = "lib/libonnxruntime.so.1"

// LibraryEnv names the environment variable that points at the library.
const LibraryEnv = "PRS_ORT_LIB"

// InstallHint says how to get the library; every *LibraryError ends with it.
const InstallHint = "run `go tool task ort` (installs lib/libonnxruntime.so.1 from the npm package onnxruntime-node@1.29.0) or set " + LibraryEnv

// Options are a worker's settings for the handler, shared by its jobs.
type Options struct {
	// Library is the ONNX Runtime shared library (default: the job's
	// onnx.library, else $PRS_ORT_LIB, else DefaultLibrary relative to the
	// working directory). A process loads one library: the first handler
	// or Check that loads one fixes it.
	Library string
	// DecodeWorkers bounds the goroutines that decode and preprocess one
	// model batch's items (default GOMAXPROCS).
	DecodeWorkers int
	// Logger receives the handler's own records (default slog.Default()).
	Logger *slog.Logger
}

func (o Options) withDefaults(jobLibrary string) Options {
	o.Library = ResolveLibrary(o.Library, jobLibrary)
	if o.DecodeWorkers <= 0 {
		o.DecodeWorkers = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// ResolveLibrary returns the library to load: the first of explicit, job,
// $PRS_ORT_LIB and DefaultLibrary that is set.
func ResolveLibrary(explicit, job string) string {
	for _, p := range []string{explicit, job, os.Getenv(LibraryEnv)} {
		if p != "" {
			return p
		}
	}
	return DefaultLibrary
}

// Errors that callers match with errors.Is.
var (
	// ErrClosed is returned by Init and Run after Close.
	ErrClosed = errors.New("onnx: handler is closed")
	// ErrMismatch is wrapped by errors where the model and the job's onnx
	// settings disagree (names, shapes, channels, element types).
	ErrMismatch = errors.New("the model does not fit the onnx settings")
	// ErrUnsupported is wrapped by errors of settings this handler does not
	// serve yet.
	ErrUnsupported = errors.New("not yet supported")
)

// LibraryError is the failure to load the ONNX Runtime library.
type LibraryError struct {
	// Path is the library, as an absolute path when it could be made one.
	Path string
	Err  error
}

func (e *LibraryError) Error() string {
	return fmt.Sprintf("onnx: cannot load the ONNX Runtime library %s: %v; %s", e.Path, e.Err, InstallHint)
}

func (e *LibraryError) Unwrap() error { return e.Err }

// ModelError is the failure to read a model file.
type ModelError struct {
	Path string
	Err  error
}

func (e *ModelError) Error() string {
	if errors.Is(e.Err, fs.ErrNotExist) || errors.Is(e.Err, fs.ErrPermission) {
		return fmt.Sprintf("onnx: model %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("onnx: model %s cannot be loaded (is it an ONNX file?): %v", e.Path, e.Err)
}

func (e *ModelError) Unwrap() error { return e.Err }

// ProviderError is the failure to start a session on a GPU execution
// provider. The handler never falls back to the CPU on its own.
type ProviderError struct {
	// Provider is cuda or tensorrt; Device the GPU's id.
	Provider string
	Device   int
	Err      error
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("onnx: execution_provider %s on device %d is not available: %v (the ONNX Runtime library needs its GPU provider libraries beside it and a visible GPU; there is no fallback to the CPU, set execution_provider cpu for that)",
		e.Provider, e.Device, e.Err)
}

func (e *ProviderError) Unwrap() error { return e.Err }
