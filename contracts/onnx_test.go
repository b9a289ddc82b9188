package contracts

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// TestValidateCUDAOptions: onnx.cuda's options need a provider that uses
// CUDA (the key of the first one set is named), gpu_mem_limit is a size,
// the enumerated ones are read (from YAML or flags) in any case and kept in
// ONNX Runtime's spelling, and a job's JSON carries them (and nothing when none
// is set).
func TestValidateCUDAOptions(t *testing.T) {
	t.Parallel()
	base := DefaultConfig()
	base.Handler, base.Input, base.Output = HandlerONNX, "in", "out"
	for _, tc := range []struct {
		provider string
		opts     CUDAOptions
		field    string // "" for valid
		want     string
	}{
		{"cuda", CUDAOptions{PreferNHWC: true, CuDNNConvAlgoSearch: CuDNNHeuristic, ArenaExtendStrategy: ArenaSameAsRequested, GPUMemLimit: "8GB"}, "", ""},
		{"cuda", CUDAOptions{CuDNNConvAlgoSearch: "heuristic"}, "onnx.cuda.cudnn_conv_algo_search", "did you mean HEURISTIC"},
		{"tensorrt", CUDAOptions{CuDNNConvAlgoSearch: CuDNNDefault}, "", ""},
		{"", CUDAOptions{PreferNHWC: true}, "onnx.cuda.prefer_nhwc", "runs on the CPU"},
		{"cpu", CUDAOptions{GPUMemLimit: "1GB"}, "onnx.cuda.gpu_mem_limit", "set execution_provider cuda or tensorrt"},
		{"cuda", CUDAOptions{GPUMemLimit: "lots"}, "onnx.cuda.gpu_mem_limit", "lots"},
		{"cuda", CUDAOptions{CuDNNConvAlgoSearch: "FAST"}, "onnx.cuda.cudnn_conv_algo_search", "EXHAUSTIVE, HEURISTIC, DEFAULT"},
		{"cuda", CUDAOptions{ArenaExtendStrategy: "kDouble"}, "onnx.cuda.arena_extend_strategy", "kNextPowerOfTwo, kSameAsRequested"},
	} {
		c := base
		c.ONNX = &ONNXConfig{Model: "m.onnx", ExecutionProvider: tc.provider, CUDA: tc.opts}
		err := c.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s %+v: %v", tc.provider, tc.opts, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: %v, want %s: ...%s", tc.provider, tc.opts, err, tc.field, tc.want)
		}
	}

	c := base
	c.ONNX = &ONNXConfig{Model: "m.onnx", ExecutionProvider: "cuda"}
	for key, text := range map[string]string{"onnx.cuda.cudnn_conv_algo_search": "heuristic", "onnx.cuda.arena_extend_strategy": "KSAMEASREQUESTED"} {
		s, ok := LookupSetting(key)
		if !ok {
			t.Fatalf("no setting %s", key)
		}
		if err := s.Set(&c, text); err != nil {
			t.Fatalf("%s %s: %v", key, text, err)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if o := c.ONNX.CUDA; o.CuDNNConvAlgoSearch != CuDNNHeuristic || o.ArenaExtendStrategy != ArenaSameAsRequested {
		t.Fatalf("not canonical: %+v", o)
	}
	b, err := json.Marshal(c.ONNX)
	if err != nil || !strings.Contains(string(b), `"cuda":{"cudnn_conv_algo_search":"HEURISTIC","arena_extend_strategy":"kSameAsRequested"}`) {
		t.Fatalf("JSON %s %v", b, err)
	}
	var back ONNXConfig
	if err := json.Unmarshal(b, &back); err != nil || back.CUDA != c.ONNX.CUDA {
		t.Fatalf("back from JSON: %+v %v", back.CUDA, err)
	}
	if b, _ := json.Marshal(&ONNXConfig{Model: "m.onnx"}); strings.Contains(string(b), "cuda") || strings.Contains(string(b), "io_binding") {
		t.Fatalf("JSON without options: %s", b)
	}
}
