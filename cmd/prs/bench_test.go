package main

import (
	"strings"
	"testing"

	"github.com/parallelrun/prs/cmd/prs/internal/bench"
	"github.com/parallelrun/prs/contracts"
)

// TestBenchOptions: --image-size is WIDTHxHEIGHT, and the --cuda-* flags
// are read as the job's onnx.cuda settings are (any case for a value, kept
// in ONNX Runtime's spelling; a wrong value names the flag).
func TestBenchOptions(t *testing.T) {
	t.Parallel()
	keys := benchCUDAKeys
	flags := func(vs ...string) map[string]*string {
		m := map[string]*string{}
		for i, k := range keys {
			m[k] = &vs[i]
		}
		return m
	}
	var c bench.Config
	if err := benchOptions(&c, "500x375", keys, flags("true", "heuristic", "ksameasrequested", "8GB")); err != nil {
		t.Fatal(err)
	}
	want := contracts.CUDAOptions{PreferNHWC: true, CuDNNConvAlgoSearch: "HEURISTIC", ArenaExtendStrategy: "kSameAsRequested", GPUMemLimit: "8GB"}
	if c.ImageWidth != 500 || c.ImageHeight != 375 || c.CUDA != want {
		t.Fatalf("%dx%d %+v", c.ImageWidth, c.ImageHeight, c.CUDA)
	}
	for _, tc := range []struct {
		size  string
		flags map[string]*string
		want  string
	}{
		{"500", flags("", "", "", ""), "--image-size must be WIDTHxHEIGHT"},
		{"500xabc", flags("", "", "", ""), "--image-size must be WIDTHxHEIGHT"},
		{"", flags("", "FAST", "", ""), "--cuda-cudnn-conv-algo-search"},
		{"", flags("maybe", "", "", ""), "--cuda-prefer-nhwc"},
	} {
		var c bench.Config
		if err := benchOptions(&c, tc.size, keys, tc.flags); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.size, err, tc.want)
		}
	}
}
