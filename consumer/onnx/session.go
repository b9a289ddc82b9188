package onnx

import (
	"fmt"
	"os"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/contracts"
)

// modelInfo reads the inputs and outputs of the model at path.
func modelInfo(path string) (in, out []ort.InputOutputInfo, err error) {
	if path == "" {
		return nil, nil, &contracts.FieldError{Field: "onnx.model", Err: fmt.Errorf("%w: is required", contracts.ErrInvalid)}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, &ModelError{Path: path, Err: err}
	}
	if fi.IsDir() {
		return nil, nil, &ModelError{Path: path, Err: fmt.Errorf("is a folder")}
	}
	in, out, err = ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, nil, &ModelError{Path: path, Err: err}
	}
	return in, out, nil
}

// provider is cfg's execution provider, "cpu" when unset.
func provider(cfg *contracts.ONNXConfig) string {
	if cfg.ExecutionProvider == "" {
		return "cpu"
	}
	return cfg.ExecutionProvider
}

// deviceID is the GPU of slot: DeviceIDs[slot % len], 0 when none is set.
func deviceID(cfg *contracts.ONNXConfig, slot int) int {
	if len(cfg.DeviceIDs) == 0 {
		return 0
	}
	return cfg.DeviceIDs[((slot%len(cfg.DeviceIDs))+len(cfg.DeviceIDs))%len(cfg.DeviceIDs)]
}

// sessionOptions are the options of a session on cfg's provider and
// device, with cfg's threads.
func sessionOptions(cfg *contracts.ONNXConfig, device int) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnx: session options: %w", err)
	}
	fail := func(err error) (*ort.SessionOptions, error) {
		_ = opts.Destroy()
		return nil, err
	}
	if n := cfg.IntraOpThreads; n > 0 {
		if err := opts.SetIntraOpNumThreads(n); err != nil {
			return fail(&contracts.FieldError{Field: "onnx.intra_op_threads", Err: err})
		}
	}
	if n := cfg.InterOpThreads; n > 0 {
		if err := opts.SetInterOpNumThreads(n); err != nil {
			return fail(&contracts.FieldError{Field: "onnx.inter_op_threads", Err: err})
		}
	}
	// The decoders of the next model batch run while the model does: ORT's
	// threads must not spin for work between runs and take their CPU.
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
		return fail(fmt.Errorf("onnx: session options: %w", err))
	}
	if err := opts.AddSessionConfigEntry("session.inter_op.allow_spinning", "0"); err != nil {
		return fail(fmt.Errorf("onnx: session options: %w", err))
	}
	dev := map[string]string{"device_id": strconv.Itoa(device)}
	cudaOpts, err := CUDAProviderOptions(cfg, device)
	if err != nil {
		return fail(err)
	}
	p := provider(cfg)
	switch p {
	case "cpu":
		if cfg.CUDA != (contracts.CUDAOptions{}) {
			return fail(&contracts.FieldError{Field: "onnx.cuda", Err: fmt.Errorf("%w: options of the CUDA execution provider, and this job runs on the CPU", contracts.ErrInvalid)})
		}
	case "tensorrt":
		trt, err := ort.NewTensorRTProviderOptions()
		if err == nil {
			err = trt.Update(dev)
			if err == nil {
				err = opts.AppendExecutionProviderTensorRT(trt)
			}
			_ = trt.Destroy()
		}
		if err != nil {
			return fail(&ProviderError{Provider: p, Device: device, Err: err})
		}
		// Nodes that TensorRT does not take run on CUDA (as ORT advises),
		// so the CUDA provider must load too.
		fallthrough
	case "cuda":
		cuda, err := ort.NewCUDAProviderOptions()
		if err == nil {
			err = cuda.Update(cudaOpts)
			if err == nil {
				err = opts.AppendExecutionProviderCUDA(cuda)
			}
			_ = cuda.Destroy()
		}
		if err != nil {
			return fail(&ProviderError{Provider: p, Device: device, Err: err})
		}
	default:
		return fail(&contracts.FieldError{Field: "onnx.execution_provider", Err: fmt.Errorf("%w: must be cpu, cuda or tensorrt, got %q", contracts.ErrInvalid, p)})
	}
	return opts, nil
}

// CUDAProviderOptions are the CUDA provider's options of cfg (onnx.cuda)
// on device, in ONNX Runtime's names and values, for
// CUDAProviderOptions.Update (the benchmark's raw stage uses them too).
func CUDAProviderOptions(cfg *contracts.ONNXConfig, device int) (map[string]string, error) {
	m := map[string]string{"device_id": strconv.Itoa(device)}
	c := cfg.CUDA
	if c.PreferNHWC {
		m["prefer_nhwc"] = "1"
	}
	if c.CuDNNConvAlgoSearch != "" {
		m["cudnn_conv_algo_search"] = c.CuDNNConvAlgoSearch
	}
	if c.ArenaExtendStrategy != "" {
		m["arena_extend_strategy"] = c.ArenaExtendStrategy
	}
	if c.GPUMemLimit != "" {
		n, err := contracts.ParseSize(c.GPUMemLimit)
		if err != nil {
			return nil, &contracts.FieldError{Field: "onnx.cuda.gpu_mem_limit", Err: fmt.Errorf("%w: %w", contracts.ErrInvalid, err)}
		}
		m["gpu_mem_limit"] = strconv.FormatInt(n, 10)
	}
	return m, nil
}

// newSession opens model for p's input and output on cfg's provider.
func newSession(cfg *contracts.ONNXConfig, model string, p *plan, device int) (*ort.DynamicAdvancedSession, error) {
	opts, err := sessionOptions(cfg, device)
	if err != nil {
		return nil, err
	}
	defer func() { _ = opts.Destroy() }()
	s, err := ort.NewDynamicAdvancedSession(model, []string{p.in.Name}, []string{p.out.Name}, opts)
	if err != nil {
		if pr := provider(cfg); pr != "cpu" {
			// The model loaded on the CPU to read its inputs, so the
			// provider is what failed.
			return nil, &ProviderError{Provider: pr, Device: device, Err: err}
		}
		return nil, &ModelError{Path: model, Err: err}
	}
	return s, nil
}
