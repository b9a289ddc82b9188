package bench

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/contracts"
)

// sessionOptions are the raw stage's session options: the same as the
// handler's (consumer/onnx/session.go, sessionOptions, which is not
// exported), so that the raw figure is the speed the handler's session can
// reach. Keep the two in step: threads, no spinning, the provider with its
// device id and onnx.cuda's options.
func sessionOptions(provider string, device, intraOp int, cudaOpts contracts.CUDAOptions) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	fail := func(err error) (*ort.SessionOptions, error) {
		_ = opts.Destroy()
		return nil, err
	}
	if intraOp > 0 {
		if err := opts.SetIntraOpNumThreads(intraOp); err != nil {
			return fail(fmt.Errorf("intra-op threads: %w", err))
		}
	}
	for _, k := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
		if err := opts.AddSessionConfigEntry(k, "0"); err != nil {
			return fail(fmt.Errorf("session options: %w", err))
		}
	}
	switch provider {
	case "cpu":
	case "cuda":
		m, err := onnx.CUDAProviderOptions(&contracts.ONNXConfig{CUDA: cudaOpts}, device)
		if err != nil {
			return fail(err)
		}
		cuda, err := ort.NewCUDAProviderOptions()
		if err == nil {
			err = cuda.Update(m)
			if err == nil {
				err = opts.AppendExecutionProviderCUDA(cuda)
			}
			_ = cuda.Destroy()
		}
		if err != nil {
			return fail(providerError(provider, device, err))
		}
	default:
		return fail(fmt.Errorf("unknown execution provider %q", provider))
	}
	return opts, nil
}

func providerError(provider string, device int, err error) error {
	return fmt.Errorf("execution provider %s on device %d is not available: %w (ONNX Runtime needs its GPU provider libraries beside the core library, CUDA and cuDNN on LD_LIBRARY_PATH, and a visible GPU)",
		provider, device, err)
}
