package onnx

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

// TestCUDAProviderOptions: onnx.cuda becomes ONNX Runtime's option names
// and values, with the device; a size is in bytes; nothing set leaves
// ONNX Runtime's defaults (only device_id).
func TestCUDAProviderOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts contracts.CUDAOptions
		want map[string]string
	}{
		{contracts.CUDAOptions{}, map[string]string{"device_id": "2"}},
		{contracts.CUDAOptions{PreferNHWC: true}, map[string]string{"device_id": "2", "prefer_nhwc": "1"}},
		{contracts.CUDAOptions{CuDNNConvAlgoSearch: contracts.CuDNNHeuristic}, map[string]string{"device_id": "2", "cudnn_conv_algo_search": "HEURISTIC"}},
		{contracts.CUDAOptions{ArenaExtendStrategy: contracts.ArenaSameAsRequested, GPUMemLimit: "8GB"},
			map[string]string{"device_id": "2", "arena_extend_strategy": "kSameAsRequested", "gpu_mem_limit": "8589934592"}},
		{contracts.CUDAOptions{PreferNHWC: true, CuDNNConvAlgoSearch: contracts.CuDNNDefault, ArenaExtendStrategy: contracts.ArenaNextPowerOfTwo, GPUMemLimit: "1024"},
			map[string]string{"device_id": "2", "prefer_nhwc": "1", "cudnn_conv_algo_search": "DEFAULT", "arena_extend_strategy": "kNextPowerOfTwo", "gpu_mem_limit": "1024"}},
	} {
		cfg := &contracts.ONNXConfig{ExecutionProvider: "cuda", CUDA: tc.opts}
		got, err := CUDAProviderOptions(cfg, 2)
		if err != nil || !maps.Equal(got, tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.opts, got, err, tc.want)
		}
	}
	_, err := CUDAProviderOptions(&contracts.ONNXConfig{CUDA: contracts.CUDAOptions{GPUMemLimit: "lots"}}, 0)
	var fe *contracts.FieldError
	if !errors.As(err, &fe) || fe.Field != "onnx.cuda.gpu_mem_limit" || !errors.Is(err, contracts.ErrInvalid) {
		t.Fatalf("gpu_mem_limit lots: %v", err)
	}
}

// TestCUDAOptionsOnTheCPU: CUDA provider options on a job that runs on the
// CPU are refused at Init naming onnx.cuda (a job that bypassed the
// submit-time check), and with execution_provider cuda they reach ONNX
// Runtime, which on a machine without a GPU refuses the provider: no
// silent fallback to the CPU with the options dropped.
func TestCUDAOptionsOnTheCPU(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.cfg.CUDA = contracts.CUDAOptions{PreferNHWC: true}
	var fe *contracts.FieldError
	if err := b.initErr(t); !errors.As(err, &fe) || fe.Field != "onnx.cuda" {
		t.Fatalf("onnx.cuda on the CPU: %v", err)
	}

	b = setup(t)
	b.cfg.ExecutionProvider = "cuda"
	b.cfg.CUDA = contracts.CUDAOptions{PreferNHWC: true, CuDNNConvAlgoSearch: contracts.CuDNNHeuristic,
		ArenaExtendStrategy: contracts.ArenaSameAsRequested, GPUMemLimit: "1GB"}
	h, err := b.newHandler(t)
	if err != nil {
		t.Fatal(err)
	}
	err = h.Init(t.Context())
	if err == nil && haveGPU() {
		t.Log("cuda with options works on this machine")
		return
	}
	var pe *ProviderError
	if !errors.As(err, &pe) || pe.Provider != "cuda" {
		t.Fatalf("cuda with options: %v (%T), want a *ProviderError", err, err)
	}
}

// TestIOBinding runs the digits through an I/O binding on the CPU
// provider: the same rows as Run gives, over mini-batches whose last model
// batch is short (a tensor of another size is bound), twice on the same
// handler; a model whose output shape is not fixed but for the batch is
// refused, naming the setting.
func TestIOBinding(t *testing.T) {
	t.Parallel()
	paths := digitPaths(expected(t))[:100] // model batches of 32: 32, 32, 32, 4
	rows := map[bool][]string{}
	for _, bind := range []bool{false, true} {
		b := setup(t)
		b.cfg.IOBinding = bind
		h := b.handler(t)
		if got := h.(*handler).s.binding != nil; got != bind {
			t.Fatalf("io_binding %v: bound %v", bind, got)
		}
		for range 2 {
			got := texts(t, run(t, h, batch(paths...)))
			if rows[bind] != nil && !slices.Equal(got, rows[bind]) {
				t.Fatalf("io_binding %v: the second run's rows differ", bind)
			}
			rows[bind] = got
		}
		t.Logf("io_binding %v: %q ...", bind, rows[bind][:3])
	}
	if !slices.Equal(rows[false], rows[true]) || len(rows[true]) != len(paths) {
		t.Fatalf("rows through the binding differ from Run's:\n%q\n%q", rows[true], rows[false])
	}

	b := setup(t)
	b.env.Model = writeFile(t, filepath.Join(t.TempDir(), "argmax.onnx"), argmaxModel())
	b.cfg.OutputName, b.cfg.Labels, b.env.Labels = "index", "", ""
	b.cfg.Postprocess = contracts.Postprocess{Kind: "raw", Format: "json"}
	b.cfg.IOBinding = true
	err := b.initErr(t)
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("io_binding with a dynamic output: %v", err)
	}
	mustContain(t, err, "io_binding", `"index"`, "int64")
}

// argmaxModel is a model (IR 8, opset 13) of the digits' input "pixels"
// [N,1,8,8] whose output "index" is ArgMax's over the batch axis: int64.
func argmaxModel() []byte {
	out := pbValueInfo("index", 1, 1, 8, 8)
	out[bytes.Index(out, []byte{0x08, 0x01})+1] = 7 // elem_type INT64
	var graph []byte
	graph = append(graph, pbBytes(1, pbNode("ArgMax", []string{"pixels"}, "index"))...)
	graph = append(graph, pbBytes(2, []byte("argmax"))...)
	graph = append(graph, pbBytes(11, pbValueInfo("pixels", -1, 1, 8, 8))...)
	graph = append(graph, pbBytes(12, out)...)
	var model []byte
	model = append(model, pbVarint(1, 8)...)
	model = append(model, pbBytes(8, append(pbBytes(1, nil), pbVarint(2, 13)...))...)
	model = append(model, pbBytes(7, graph)...)
	return model
}

// TestTensorsReused: the session makes its input and output tensors once
// per size of model batch and reuses them (the buffers are the handler's
// own, made once): a second pass over mini-batches of the sizes seen makes
// none, and many sizes keep at most maxTensors per buffer, the full model
// batch's among them. Rows stay right throughout.
func TestTensorsReused(t *testing.T) {
	t.Parallel()
	ds := expected(t)
	paths := digitPaths(ds)
	for _, bind := range []bool{false, true} {
		t.Run(fmt.Sprintf("io_binding %v", bind), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.cfg.ModelBatchSize = 16
			b.cfg.IOBinding = bind
			h := b.handler(t)
			s := h.(*handler).s
			sizes := []int{100, 40, 16, 7}
			pass := func() {
				for _, n := range sizes {
					for i, row := range texts(t, run(t, h, batch(paths[:n]...))) {
						if want := ds[i].file + ": " + ds[i].prediction; row != want {
							t.Fatalf("%d items, row %d: %q, want %q", n, i, row, want)
						}
					}
				}
			}
			pass()
			made := s.made
			pass()
			if s.made != made {
				t.Fatalf("a second pass made %d tensors more", s.made-made)
			}
			for n := 1; n <= 15; n++ {
				run(t, h, batch(paths[:n]...))
			}
			for i, buf := range s.bufs {
				if len(buf.ts.byN) > maxTensors || buf.ts.byN[16] == nil {
					t.Fatalf("buffer %d keeps tensors of %v items", i, slices.Sorted(maps.Keys(buf.ts.byN)))
				}
			}
			if len(s.outs.byN) > maxTensors || s.outs.byN[16] == nil {
				t.Fatalf("the output keeps tensors of %v items", slices.Sorted(maps.Keys(s.outs.byN)))
			}
			t.Logf("%d tensors made in all", s.made)
		})
	}
}
