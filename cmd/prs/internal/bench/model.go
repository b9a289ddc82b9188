package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/consumer/onnx"
)

// ErrModel is wrapped by the error of a model the benchmark cannot run:
// not a loadable ONNX file, or an input that is not float32 [N,3,H,W]
// with H and W the image size (or dynamic).
var ErrModel = errors.New("the model does not fit the benchmark")

// modelInfo is what the stages need to know of the model.
type modelInfo struct {
	in, out ort.InputOutputInfo
	// outItem is one item's output shape; outLen its element count, 0
	// when a dimension is dynamic.
	outItem []int64
	outLen  int
}

// describe is `"name" [dims] type`.
func describe(v ort.InputOutputInfo) string {
	t := strings.ToLower(strings.TrimPrefix(v.DataType.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
	switch v.DataType {
	case ort.TensorElementDataTypeFloat:
		t = "float32"
	case ort.TensorElementDataTypeDouble:
		t = "float64"
	}
	return fmt.Sprintf("%q %v %s", v.Name, []int64(v.Dimensions), t)
}

// loadModel loads the ONNX Runtime library through the handler's own check
// (onnx.Check, on the CPU: it loads the library once per process and reads
// the model against the benchmark's onnx settings; then, for a GPU
// provider, again on the provider, which opens a session on each device),
// and checks what the raw stage assumes: one float32 input [N,3,size,size],
// the batch dimension dynamic or equal to the model batch size, and a
// tensor output.
func loadModel(ctx context.Context, c *Config, library string) (*modelInfo, error) {
	fi, err := os.Stat(c.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrModel, err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is a folder", ErrModel, c.Model)
	}
	want := fmt.Sprintf("float32 [N,3,%d,%d] (N, H and W may be dynamic)", c.Size, c.Size)
	err = onnx.Check(ctx, c.onnxConfig(c.Model, library, "cpu"), c.Model, library)
	var me *onnx.ModelError
	switch {
	case errors.Is(err, onnx.ErrMismatch):
		return nil, fmt.Errorf("%w: its input must be %s: %w", ErrModel, want, err)
	case errors.As(err, &me):
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	case err != nil:
		return nil, err
	}
	if c.ExecutionProvider != "cpu" {
		// Open a session on each device now, as prs run's preflight does,
		// rather than after the images are made.
		if err := onnx.Check(ctx, c.onnxConfig(c.Model, library, c.ExecutionProvider), c.Model, library); err != nil {
			return nil, err
		}
	}
	ins, outs, err := ort.GetInputOutputInfo(c.Model)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrModel, c.Model, err)
	}
	if len(ins) != 1 || len(outs) == 0 {
		return nil, fmt.Errorf("%w: it must have one input, %s, and an output; it has %d inputs and %d outputs", ErrModel, want, len(ins), len(outs))
	}
	m := &modelInfo{in: ins[0], out: outs[0]}
	d := m.in.Dimensions
	fits := func(dim int64, v int) bool { return dim == int64(v) || dim < 0 }
	if m.in.OrtValueType != ort.ONNXTypeTensor || m.in.DataType != ort.TensorElementDataTypeFloat ||
		len(d) != 4 || d[1] != 3 || !fits(d[2], c.Size) || !fits(d[3], c.Size) {
		return nil, fmt.Errorf("%w: its input must be %s; it is %s", ErrModel, want, describe(m.in))
	}
	if d[0] > 0 && d[0] != int64(c.ModelBatchSize) {
		return nil, fmt.Errorf("%w: its batch dimension is fixed at %d (input %s); give --model-batch-size %d or export it with a dynamic batch axis",
			ErrModel, d[0], describe(m.in), d[0])
	}
	if m.out.OrtValueType != ort.ONNXTypeTensor || len(m.out.Dimensions) == 0 {
		return nil, fmt.Errorf("%w: its first output must be a tensor with a batch dimension; it is %s", ErrModel, describe(m.out))
	}
	m.outItem = append([]int64(nil), m.out.Dimensions[1:]...)
	m.outLen = 1
	for _, v := range m.outItem {
		if v <= 0 {
			m.outLen = 0
			break
		}
		m.outLen *= int(v)
	}
	return m, nil
}
