package bench

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/parallelrun/prs/consumer/onnx"
)

// testLibrary is the ONNX Runtime library of the tests: $PRS_ORT_LIB, else
// the one `go tool task ort` installs. Without it the test fails, with the
// install hint.
func testLibrary(t testing.TB) string {
	t.Helper()
	p := os.Getenv(onnx.LibraryEnv)
	if p == "" {
		p, _ = filepath.Abs("../../../../lib/libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal((&onnx.LibraryError{Path: p, Err: err}).Error())
	}
	return p
}

// tinyModel is deploy/gpu/make_tiny_model.py's model, built here: input
// "input" float32 [N,3,size,size] -> Conv (16 filters 8x8, stride 8) ->
// Relu -> GlobalAveragePool -> Flatten -> Gemm to 10 -> "logits" [N,10],
// with fixed pseudo-random weights.
func tinyModel(size int) []byte {
	r := rand.New(rand.NewPCG(0, 0))
	normal := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
		return v
	}
	s := int64(size)
	g := &graph{name: "tiny"}
	g.input("input", -1, 3, s, s)
	g.output("logits", -1, 10)
	g.floats("conv_w", []int64{16, 3, 8, 8}, normal(16*3*8*8, 0.05))
	g.floats("conv_b", []int64{16}, make([]float32, 16))
	g.floats("fc_w", []int64{10, 16}, normal(10*16, 0.1))
	g.floats("fc_b", []int64{10}, make([]float32, 10))
	g.node("Conv", []string{"input", "conv_w", "conv_b"}, "conv", intsAttr("kernel_shape", 8, 8), intsAttr("strides", 8, 8))
	g.node("Relu", []string{"conv"}, "relu")
	g.node("GlobalAveragePool", []string{"relu"}, "pool")
	g.node("Flatten", []string{"pool"}, "flat", intAttr("axis", 1))
	g.node("Gemm", []string{"flat", "fc_w", "fc_b"}, "logits", intAttr("transB", 1))
	return g.model()
}

// poolModel is a model of input [batch,channels,size,size] (batch < 0:
// dynamic) that averages each channel.
func poolModel(batch, channels, size int64) []byte {
	g := &graph{name: "pool"}
	g.input("input", batch, channels, size, size)
	g.output("logits", batch, channels)
	g.node("GlobalAveragePool", []string{"input"}, "pool")
	g.node("Flatten", []string{"pool"}, "logits", intAttr("axis", 1))
	return g.model()
}

// writeModel writes a model into the test's folder.
func writeModel(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
