package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// rawWarmup is the number of full model batches run before the raw clock
// starts (ONNX Runtime and CUDA settle their memory and kernels on the
// first runs of each shape).
const rawWarmup = 3

// rawTensors are the raw stage's inputs and outputs, built once: two input
// buffers of a model batch, each with a tensor over all of it and one over
// the last, shorter run's items (when n is not a multiple of the batch),
// and likewise an output tensor, given to ORT as the handler gives it (nil:
// ORT allocates the output, as the handler lets it for outputs that are not
// float32 of a fixed shape).
type rawTensors struct {
	full, tail       [2]*ort.Tensor[float32]
	outFull, outTail *ort.Tensor[float32]
}

func (t *rawTensors) destroy() {
	for _, v := range []*ort.Tensor[float32]{t.full[0], t.full[1], t.tail[0], t.tail[1], t.outFull, t.outTail} {
		if v != nil {
			_ = v.Destroy()
		}
	}
}

func newRawTensors(c *Config, m *modelInfo, n int) (*rawTensors, error) {
	t := &rawTensors{}
	b, item, rem := c.ModelBatchSize, 3*c.Size*c.Size, n%c.ModelBatchSize
	in := func(k int) ort.Shape { return ort.NewShape(int64(k), 3, int64(c.Size), int64(c.Size)) }
	r := rand.New(rand.NewPCG(c.Seed, 0))
	var err error
	for i := range t.full {
		buf := make([]float32, b*item)
		for j := range buf {
			buf[j] = float32(r.NormFloat64())
		}
		if t.full[i], err = ort.NewTensor(in(b), buf); err == nil && rem > 0 {
			t.tail[i], err = ort.NewTensor(in(rem), buf[:rem*item])
		}
		if err != nil {
			t.destroy()
			return nil, fmt.Errorf("input tensor: %w", err)
		}
	}
	if m.out.DataType == ort.TensorElementDataTypeFloat && m.outLen > 0 {
		out := func(k int) ort.Shape { return append(ort.Shape{int64(k)}, m.outItem...) }
		buf := make([]float32, b*m.outLen)
		if t.outFull, err = ort.NewTensor(out(b), buf); err == nil && rem > 0 {
			t.outTail, err = ort.NewTensor(out(rem), buf[:rem*m.outLen])
		}
		if err != nil {
			t.destroy()
			return nil, fmt.Errorf("output tensor: %w", err)
		}
	}
	return t, nil
}

// runRaw times the model alone: one session with the handler's options on
// the first device, n items in runs of c.ModelBatchSize (the last one
// shorter when n is not a multiple), alternating between the two inputs.
func runRaw(ctx context.Context, c *Config, m *modelInfo, n int) (Stage, error) {
	var st Stage
	dev := c.DeviceIDs[0]
	start := time.Now()
	opts, err := sessionOptions(c.ExecutionProvider, dev, c.IntraOpThreads, c.CUDA)
	if err != nil {
		return st, err
	}
	sess, err := ort.NewDynamicAdvancedSession(c.Model, []string{m.in.Name}, []string{m.out.Name}, opts)
	_ = opts.Destroy()
	if err != nil {
		if c.ExecutionProvider != "cpu" {
			return st, providerError(c.ExecutionProvider, dev, err)
		}
		return st, fmt.Errorf("%w: %s: %w", ErrModel, c.Model, err)
	}
	defer func() { _ = sess.Destroy() }()
	runOpts, err := ort.NewRunOptions()
	if err != nil {
		return st, err
	}
	defer func() { _ = runOpts.Destroy() }()
	t, err := newRawTensors(c, m, n)
	if err != nil {
		return st, err
	}
	defer t.destroy()

	run := func(i, k int) error {
		in, out := t.full[i%2], t.outFull
		if k != c.ModelBatchSize {
			in, out = t.tail[i%2], t.outTail
		}
		outs := []ort.Value{nil}
		if out != nil {
			outs[0] = out
		}
		if err := sess.RunWithOptions([]ort.Value{in}, outs, runOpts); err != nil {
			return fmt.Errorf("running the model on %d items: %w", k, err)
		}
		if out == nil && outs[0] != nil {
			_ = outs[0].Destroy()
		}
		return nil
	}
	for i := range rawWarmup {
		if err := run(i, c.ModelBatchSize); err != nil {
			return st, err
		}
	}
	if rem := n % c.ModelBatchSize; rem > 0 {
		if err := run(0, rem); err != nil {
			return st, err
		}
	}
	st.Start = time.Since(start).Seconds()

	t0 := time.Now()
	for i, done := 0, 0; done < n; i++ {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		k := min(c.ModelBatchSize, n-done)
		if err := run(i, k); err != nil {
			return st, err
		}
		done += k
	}
	st.set(n, time.Since(t0))
	return st, nil
}
