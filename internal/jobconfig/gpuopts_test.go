package jobconfig

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestONNXGPUSettings: onnx.cuda (a section under onnx), onnx.io_binding
// and onnx.preprocess.jpeg_decoder are read from a job file and from flags,
// values in any case kept in their canonical spelling, and the job is valid.
func TestONNXGPUSettings(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "job.yaml")
	yaml := `handler: onnx
input: in
output: out
onnx:
  model: m.onnx
  execution_provider: cuda
  io_binding: true
  cuda: {prefer_nhwc: true, cudnn_conv_algo_search: heuristic, gpu_mem_limit: 16GB}
  preprocess: {jpeg_decoder: Turbo}
`
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := Register(fs)
	if err := fs.Parse([]string{"--config", p, "--onnx-cuda-arena-extend-strategy", "ksameasrequested", "--onnx-cuda-gpu-mem-limit", "8GB"}); err != nil {
		t.Fatal(err)
	}
	c, err := f.Config(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := contracts.CUDAOptions{PreferNHWC: true, CuDNNConvAlgoSearch: "HEURISTIC", ArenaExtendStrategy: "kSameAsRequested", GPUMemLimit: "8GB"}
	if o := c.ONNX; o.CUDA != want || !o.IOBinding || o.Preprocess.JPEGDecoder != "turbo" {
		t.Fatalf("onnx %+v", o)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
