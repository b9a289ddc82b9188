package onnx

import (
	"fmt"
	"math"
	"strings"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/turbojpeg"
)

// DefaultModelBatchSize is the number of items in one Run of the model
// when onnx.model_batch_size is 0.
const DefaultModelBatchSize = 32

// Preprocessing kinds.
const (
	kindImage   = "image"
	kindNPY     = "npy"
	kindTabular = "tabular"
)

// plan is a job's onnx settings resolved against its model: what one item's
// tensor looks like and how a file becomes one. It is immutable once built,
// so decoding goroutines share it.
type plan struct {
	in, out    ort.InputOutputInfo
	kind       string
	elem       ort.TensorElementDataType // of the input: float32 or uint8
	fixedBatch int                       // the model's batch dimension when fixed, else 0
	batch      int                       // items per Run
	item       []int64                   // one item's input shape (the input's shape without its batch dimension)
	itemLen    int                       // elements of one item

	// Images.
	gray                    bool
	channels, height, width int
	nhwc                    bool
	resize                  string // none, exact or shorter_side
	resizeTo                int
	lut32                   [][256]float32 // per channel: pixel value -> input value
	lut8                    [][256]uint8
	// turbo decodes JPEG files when set (onnx.preprocess.jpeg_decoder,
	// resolved on the worker); else Go's image/jpeg does.
	turbo *turbojpeg.Lib

	// Tables.
	columns  []string         // the feature columns, in model order
	columnAt map[string][]int // column name -> its places in columns
	idColumn string           // the column that names each row, "" for none
	scale    float64          // value*scale
	mean     []float64        // per column
	std      []float64        // per column
	identity bool             // scale 1, mean 0, std 1: values are fed as they are

	// rowKey names the item in json rows ("file", "id"), "" for none.
	rowKey string

	// Output.
	outItem  []int64 // one item's output shape
	outLen   int     // elements of one item's output; 0 when some dimension is dynamic
	outFloat bool    // the output is float32: the handler can give ORT its buffer

	ioBinding bool // run through an I/O binding (onnx.io_binding)
}

// mismatch is an error where the model and the setting field disagree.
func mismatch(field, format string, args ...any) error {
	return &contracts.FieldError{Field: "onnx." + field, Err: fmt.Errorf("%w: "+format, append([]any{ErrMismatch}, args...)...)}
}

// describe lists values as `"name" [dims] type` for error messages.
func describe(vs []ort.InputOutputInfo) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		if v.OrtValueType == ort.ONNXTypeTensor {
			parts[i] = fmt.Sprintf("%q %v %s", v.Name, []int64(v.Dimensions), elemName(v.DataType))
		} else {
			parts[i] = fmt.Sprintf("%q (%s)", v.Name, typeName(v.OrtValueType))
		}
	}
	return strings.Join(parts, ", ")
}

func elemName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	}
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TENSOR_ELEMENT_DATA_TYPE_"))
}

// typeName is "sequence", "map" and so on.
func typeName(t ort.ONNXType) string {
	return strings.ToLower(strings.TrimPrefix(t.String(), "ONNX_TYPE_"))
}

// pick returns the value called name, or the first when name is "".
func pick(vs []ort.InputOutputInfo, name, field, what, model string) (ort.InputOutputInfo, error) {
	if len(vs) == 0 {
		return ort.InputOutputInfo{}, mismatch(field, "model %s has no %ss", model, what)
	}
	if name == "" {
		return vs[0], nil
	}
	for _, v := range vs {
		if v.Name == name {
			return v, nil
		}
	}
	return ort.InputOutputInfo{}, mismatch(field, "model %s has no %s %q; its %ss: %s", model, what, name, what, describe(vs))
}

// newPlan checks the settings against the model's inputs and outputs and
// resolves every default that depends on the model.
func newPlan(cfg *contracts.ONNXConfig, model string, inputs, outputs []ort.InputOutputInfo) (*plan, error) {
	p := &plan{}
	var err error
	if p.in, err = pick(inputs, cfg.InputName, "input_name", "input", model); err != nil {
		return nil, err
	}
	if len(inputs) > 1 {
		return nil, mismatch("input_name", "model %s has %d inputs (%s); the onnx handler feeds exactly one", model, len(inputs), describe(inputs))
	}
	if p.out, err = pick(outputs, cfg.OutputName, "output_name", "output", model); err != nil {
		return nil, err
	}
	if p.in.OrtValueType != ort.ONNXTypeTensor {
		return nil, mismatch("input_name", "model input %q is a %s, not a tensor", p.in.Name, typeName(p.in.OrtValueType))
	}
	if p.out.OrtValueType != ort.ONNXTypeTensor {
		return nil, mismatch("output_name", "model output %q is a %s, not a tensor; choose a tensor output (outputs: %s)", p.out.Name, typeName(p.out.OrtValueType), describe(outputs))
	}
	dims := p.in.Dimensions
	if len(dims) < 2 {
		return nil, mismatch("input_name", "model input %q has shape %v: it needs a batch dimension and at least one more", p.in.Name, []int64(dims))
	}
	p.item = append([]int64(nil), dims[1:]...)
	p.batch = cfg.ModelBatchSize
	if p.batch <= 0 {
		p.batch = DefaultModelBatchSize
	}
	if dims[0] > 0 {
		p.fixedBatch, p.batch = int(dims[0]), int(dims[0])
	}

	pre := cfg.Preprocess
	switch pre.Kind {
	case "", kindImage:
		p.kind, p.rowKey = kindImage, "file"
		err = p.image(pre)
	case kindNPY:
		p.kind, p.rowKey = kindNPY, "file"
		err = p.npy(pre)
	case kindTabular:
		p.kind = kindTabular
		err = p.tabular(pre)
	default:
		err = &contracts.FieldError{Field: "onnx.preprocess.kind", Err: fmt.Errorf("%w: must be image, npy or tabular, got %q", contracts.ErrInvalid, pre.Kind)}
	}
	if err != nil {
		return nil, err
	}
	p.itemLen = 1
	for _, d := range p.item {
		p.itemLen *= int(d)
	}
	if err := p.output(cfg.Postprocess); err != nil {
		return nil, err
	}
	if p.ioBinding = cfg.IOBinding; p.ioBinding && (!p.outFloat || p.outLen == 0) {
		return nil, mismatch("io_binding", "binds an output tensor made before the run: it needs a float32 output whose shape is fixed but for the batch, and model output %q is %v %s",
			p.out.Name, []int64(p.out.Dimensions), elemName(p.out.DataType))
	}
	return p, nil
}

// dtype checks the input's element type against the dtype setting.
func (p *plan) dtype(set string) error {
	var want ort.TensorElementDataType
	switch set {
	case "":
	case "float32":
		want = ort.TensorElementDataTypeFloat
	case "uint8":
		want = ort.TensorElementDataTypeUint8
	default:
		return &contracts.FieldError{Field: "onnx.preprocess.dtype", Err: fmt.Errorf("%w: must be float32 or uint8, got %q", contracts.ErrInvalid, set)}
	}
	p.elem = p.in.DataType
	if p.elem != ort.TensorElementDataTypeFloat && p.elem != ort.TensorElementDataTypeUint8 {
		return mismatch("preprocess.dtype", "model input %q holds %s; the onnx handler feeds float32 or uint8", p.in.Name, elemName(p.elem))
	}
	if set != "" && want != p.elem {
		return mismatch("preprocess.dtype", "dtype %s, but model input %q holds %s", set, p.in.Name, elemName(p.elem))
	}
	return nil
}

func (p *plan) image(pre contracts.Preprocess) error {
	dims := p.in.Dimensions
	switch pre.Layout {
	case "", "nchw":
	case "nhwc":
		p.nhwc = true
	default:
		return &contracts.FieldError{Field: "onnx.preprocess.layout", Err: fmt.Errorf("%w: must be nchw or nhwc, got %q", contracts.ErrInvalid, pre.Layout)}
	}
	layout := map[bool]string{false: "nchw", true: "nhwc"}[p.nhwc]
	if len(dims) != 4 {
		return mismatch("preprocess.kind", "image items need a 4-D model input ([N,C,H,W] with layout nchw, [N,H,W,C] with nhwc); input %q is %v", p.in.Name, []int64(dims))
	}
	if err := p.dtype(pre.DType); err != nil {
		return err
	}
	c, h, w := dims[1], dims[2], dims[3]
	if p.nhwc {
		h, w, c = dims[1], dims[2], dims[3]
	}

	// Channels: the mode's, which must be the model's when it is fixed; a
	// mode left unset follows a fixed channel count of 1 or 3.
	switch pre.Mode {
	case "":
		p.gray = c == 1
	case "rgb":
	case "grayscale":
		p.gray = true
	default:
		return &contracts.FieldError{Field: "onnx.preprocess.mode", Err: fmt.Errorf("%w: must be rgb or grayscale, got %q", contracts.ErrInvalid, pre.Mode)}
	}
	p.channels = 3
	if p.gray {
		p.channels = 1
	}
	if c > 0 && int(c) != p.channels {
		mode := pre.Mode
		if mode == "" {
			mode = "rgb (the default)"
		}
		return mismatch("preprocess.mode", "mode %s gives %d channel(s), but model input %q %v has %d channels in layout %s (grayscale gives 1, rgb 3; check mode and layout)",
			mode, p.channels, p.in.Name, []int64(dims), c, layout)
	}

	// Size: the setting's, which must be the model's where it is fixed.
	switch {
	case len(pre.Size) == 2:
		if pre.Size[0] < 1 || pre.Size[1] < 1 {
			return &contracts.FieldError{Field: "onnx.preprocess.size", Err: fmt.Errorf("%w: must be [height, width], got %v", contracts.ErrInvalid, pre.Size)}
		}
		p.height, p.width = pre.Size[0], pre.Size[1]
		if (h > 0 && int(h) != p.height) || (w > 0 && int(w) != p.width) {
			return mismatch("preprocess.size", "size [%d, %d] (height, width), but model input %q %v takes [%d, %d] in layout %s",
				p.height, p.width, p.in.Name, []int64(dims), h, w, layout)
		}
	case len(pre.Size) == 0:
		if h <= 0 || w <= 0 {
			return mismatch("preprocess.size", "is required: model input %q %v has a dynamic height or width", p.in.Name, []int64(dims))
		}
		p.height, p.width = int(h), int(w)
	default:
		return &contracts.FieldError{Field: "onnx.preprocess.size", Err: fmt.Errorf("%w: must be [height, width], got %v", contracts.ErrInvalid, pre.Size)}
	}
	if p.nhwc {
		p.item = []int64{int64(p.height), int64(p.width), int64(p.channels)}
	} else {
		p.item = []int64{int64(p.channels), int64(p.height), int64(p.width)}
	}

	p.resize = pre.Resize
	switch p.resize {
	case "":
		p.resize = "none"
	case "none", "exact":
	case "shorter_side":
		if pre.ResizeTo < max(p.height, p.width) {
			return &contracts.FieldError{Field: "onnx.preprocess.resize_to", Err: fmt.Errorf("%w: %d is less than the size %dx%d it is cropped to (height x width)",
				contracts.ErrInvalid, pre.ResizeTo, p.height, p.width)}
		}
		p.resizeTo = pre.ResizeTo
	default:
		return &contracts.FieldError{Field: "onnx.preprocess.resize", Err: fmt.Errorf("%w: must be shorter_side, exact or none, got %q", contracts.ErrInvalid, pre.Resize)}
	}
	return p.normalization(pre)
}

// normalization builds the per-channel tables that turn a pixel value v
// into (v*scale - mean) / std.
func (p *plan) normalization(pre contracts.Preprocess) error {
	scale := pre.Scale
	if scale == 0 {
		scale = 1
		if p.elem == ort.TensorElementDataTypeFloat {
			scale = 1.0 / 255
		}
	}
	perChannel := func(field string, vs []float64, def float64) ([]float64, error) {
		switch len(vs) {
		case 0:
			vs = []float64{def}
			fallthrough
		case 1:
			out := make([]float64, p.channels)
			for i := range out {
				out[i] = vs[0]
			}
			return out, nil
		case p.channels:
			return vs, nil
		}
		return nil, mismatch(field, "has %d values for %d channel(s)", len(vs), p.channels)
	}
	mean, err := perChannel("preprocess.mean", pre.Mean, 0)
	if err != nil {
		return err
	}
	std, err := perChannel("preprocess.std", pre.Std, 1)
	if err != nil {
		return err
	}
	for c, s := range std {
		if s == 0 {
			return &contracts.FieldError{Field: "onnx.preprocess.std", Err: fmt.Errorf("%w: channel %d has std 0", contracts.ErrInvalid, c)}
		}
	}
	if p.elem == ort.TensorElementDataTypeFloat {
		p.lut32 = make([][256]float32, p.channels)
		for c := range p.lut32 {
			for v := range 256 {
				p.lut32[c][v] = float32((float64(v)*scale - mean[c]) / std[c])
			}
		}
		return nil
	}
	p.lut8 = make([][256]uint8, p.channels)
	for c := range p.lut8 {
		for v := range 256 {
			x := math.Round((float64(v)*scale - mean[c]) / std[c])
			p.lut8[c][v] = uint8(min(255, max(0, x)))
		}
	}
	return nil
}

func (p *plan) npy(pre contracts.Preprocess) error {
	for _, d := range p.item {
		if d <= 0 {
			return mismatch("preprocess.kind", "npy items need a model input whose shape is fixed but for the batch; input %q is %v", p.in.Name, []int64(p.in.Dimensions))
		}
	}
	return p.dtype(pre.DType)
}

func (p *plan) output(post contracts.Postprocess) error {
	dims := p.out.Dimensions
	if len(dims) == 0 {
		return mismatch("output_name", "model output %q is a scalar; it needs a batch dimension", p.out.Name)
	}
	p.outItem = append([]int64(nil), dims[1:]...)
	p.outLen = 1
	for _, d := range p.outItem {
		if d <= 0 {
			p.outLen = 0
			break
		}
		p.outLen *= int(d)
	}
	p.outFloat = p.out.DataType == ort.TensorElementDataTypeFloat
	switch p.out.DataType {
	case ort.TensorElementDataTypeFloat, ort.TensorElementDataTypeDouble,
		ort.TensorElementDataTypeInt8, ort.TensorElementDataTypeUint8,
		ort.TensorElementDataTypeInt16, ort.TensorElementDataTypeUint16,
		ort.TensorElementDataTypeInt32, ort.TensorElementDataTypeUint32,
		ort.TensorElementDataTypeInt64, ort.TensorElementDataTypeUint64:
	default:
		return mismatch("output_name", "model output %q holds %s; the onnx handler reads numbers", p.out.Name, elemName(p.out.DataType))
	}
	_, err := newPost(post, nil)
	return err
}

// inputShape is the input tensor's shape for n items.
func (p *plan) inputShape(n int) ort.Shape {
	return append(ort.Shape{int64(n)}, p.item...)
}

// outputShape is the output tensor's shape for n items (only when outLen > 0).
func (p *plan) outputShape(n int) ort.Shape {
	return append(ort.Shape{int64(n)}, p.outItem...)
}

// String describes the plan for the logs.
func (p *plan) String() string {
	s := fmt.Sprintf("input %q %v %s, output %q %v %s, %s items, %d per run",
		p.in.Name, []int64(p.in.Dimensions), elemName(p.in.DataType),
		p.out.Name, []int64(p.out.Dimensions), elemName(p.out.DataType), p.kind, p.batch)
	if p.kind == kindImage {
		mode := "rgb"
		if p.gray {
			mode = "grayscale"
		}
		s += fmt.Sprintf(", %s %dx%d (h x w), resize %s", mode, p.height, p.width, p.resize)
	}
	if p.kind == kindTabular {
		s += fmt.Sprintf(", %d feature columns as %v", len(p.columns), p.item)
		if p.idColumn != "" {
			s += fmt.Sprintf(", rows named by column %q", p.idColumn)
		}
	}
	return s
}
