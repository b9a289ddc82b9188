package onnx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/consumer"
)

// session is a ready handler: the ORT session and what Run reuses.
type session struct {
	plan    *plan
	post    *post
	sess    *ort.DynamicAdvancedSession
	runOpts *ort.RunOptions
	binding *ort.IoBinding // onnx.io_binding; nil without
	// terminated says runOpts' terminate flag is set: a Run was stopped.
	terminated bool
	workers    int

	// Two input buffers: items of model batch k+1 decode into one while
	// the model reads model batch k from the other.
	bufs    [2]*inputBuf
	out     []float32 // the output of one model batch, when ORT can write to it
	outs    tensors   // tensors over out, by number of items
	conv    []float32 // an output of another element type, as float32
	topTmp  []int
	scratch sync.Pool // *scratch
	// made counts the tensors the session has made over its buffers.
	made int
}

// inputBuf holds the input of one model batch.
type inputBuf struct {
	f32 []float32
	u8  []uint8
	ts  tensors // tensors over the buffer, by number of items
}

// maxTensors bounds the tensors kept per buffer: the full model batch and
// the few shorter ones that mini-batches end with.
const maxTensors = 4

// tensors keeps ORT tensors over one buffer, by number of items, so that a
// model batch of a size seen before reuses its tensor.
type tensors struct {
	byN map[int]ort.Value
}

// get returns the tensor of n items, made by mk when there is none; the
// tensor stays valid until the next get of another size or destroy.
func (t *tensors) get(n int, mk func(n int) (ort.Value, error)) (ort.Value, bool, error) {
	if v, ok := t.byN[n]; ok {
		return v, false, nil
	}
	v, err := mk(n)
	if err != nil {
		return nil, false, err
	}
	if t.byN == nil {
		t.byN = map[int]ort.Value{}
	}
	if len(t.byN) >= maxTensors { // keep the full batch's alone
		full := t.full()
		for k, old := range t.byN {
			if k != full {
				_ = old.Destroy()
				delete(t.byN, k)
			}
		}
	}
	t.byN[n] = v
	return v, true, nil
}

// full is the largest size kept.
func (t *tensors) full() int {
	m := 0
	for k := range t.byN {
		m = max(m, k)
	}
	return m
}

func (t *tensors) destroy() {
	for _, v := range t.byN {
		_ = v.Destroy()
	}
	t.byN = nil
}

func newSessionState(p *plan, post *post, sess *ort.DynamicAdvancedSession, workers int) (*session, error) {
	s := &session{plan: p, post: post, sess: sess, workers: max(1, workers)}
	s.scratch.New = func() any { return new(scratch) }
	var err error
	if s.runOpts, err = ort.NewRunOptions(); err != nil {
		return nil, fmt.Errorf("onnx: run options: %w", err)
	}
	if p.ioBinding {
		if s.binding, err = sess.CreateIoBinding(); err != nil {
			_ = s.close()
			return nil, fmt.Errorf("onnx: I/O binding: %w", err)
		}
	}
	for i := range s.bufs {
		b := &inputBuf{}
		n := p.batch * p.itemLen
		if p.elem == ort.TensorElementDataTypeFloat {
			b.f32 = make([]float32, n)
		} else {
			b.u8 = make([]uint8, n)
		}
		s.bufs[i] = b
		if _, err := s.inputTensor(b, p.batch); err != nil {
			_ = s.close()
			return nil, err
		}
	}
	if p.outFloat && p.outLen > 0 {
		s.out = make([]float32, p.batch*p.outLen)
		if _, err := s.outputTensor(p.batch); err != nil {
			_ = s.close()
			return nil, err
		}
	}
	return s, nil
}

// inputTensor is the tensor over b's first n items.
func (s *session) inputTensor(b *inputBuf, n int) (ort.Value, error) {
	p := s.plan
	v, made, err := b.ts.get(n, func(n int) (ort.Value, error) {
		if b.f32 != nil {
			return ort.NewTensor(p.inputShape(n), b.f32[:n*p.itemLen])
		}
		return ort.NewTensor(p.inputShape(n), b.u8[:n*p.itemLen])
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: input tensor %v: %w", p.inputShape(n), err)
	}
	if made {
		s.made++
	}
	return v, nil
}

// outputTensor is the tensor over the output of n items (only when the
// output is float32 of a fixed shape).
func (s *session) outputTensor(n int) (ort.Value, error) {
	p := s.plan
	v, made, err := s.outs.get(n, func(n int) (ort.Value, error) {
		return ort.NewTensor(p.outputShape(n), s.out[:n*p.outLen])
	})
	if err != nil {
		return nil, fmt.Errorf("onnx: output tensor %v: %w", p.outputShape(n), err)
	}
	if made {
		s.made++
	}
	return v, nil
}

func (s *session) close() error {
	for _, b := range s.bufs {
		if b != nil {
			b.ts.destroy()
		}
	}
	s.outs.destroy()
	if s.binding != nil {
		_ = s.binding.Destroy()
	}
	if s.runOpts != nil {
		_ = s.runOpts.Destroy()
	}
	var err error
	if s.sess != nil {
		err = s.sess.Destroy()
	}
	*s = session{}
	return err
}

// item returns the input slice of item i.
func (b *inputBuf) item(p *plan, i int) ([]float32, []uint8) {
	lo, hi := i*p.itemLen, (i+1)*p.itemLen
	if b.f32 != nil {
		return b.f32[lo:hi], nil
	}
	return nil, b.u8[lo:hi]
}

// decodeJob decodes the items lo..lo+n-1 of a batch into buf, in parallel.
type decodeJob struct {
	lo, n int
	buf   *inputBuf
	errs  []error
	wg    sync.WaitGroup
}

// startDecode starts decoding items lo..lo+n-1 of src into buf; wait on
// job.wg.
func (s *session) startDecode(ctx context.Context, src items, lo, n int, buf *inputBuf) *decodeJob {
	job := &decodeJob{lo: lo, n: n, buf: buf, errs: make([]error, n)}
	var next atomic.Int64
	workers := min(s.workers, n)
	job.wg.Add(workers)
	for range workers {
		go func() {
			defer job.wg.Done()
			sc := s.scratch.Get().(*scratch)
			defer s.scratch.Put(sc)
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					job.errs[i] = err
					continue
				}
				job.errs[i] = s.decodeItem(src, lo+i, buf, i, sc)
			}
		}()
	}
	return job
}

// decodeItem decodes item i of src into item j of buf. A decoder's panic
// is the item's error, not the worker's end.
func (s *session) decodeItem(src items, i int, buf *inputBuf, j int, sc *scratch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	f32, u8 := buf.item(s.plan, j)
	return src.decode(i, f32, u8, sc)
}

// run scores a batch: while the model runs model batch k, the items of
// model batch k+1 decode.
func (s *session) run(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
	var res consumer.Result
	src, err := s.itemsOf(b)
	if err != nil {
		return res, err
	}
	n := src.len()
	if n == 0 {
		return res, nil
	}
	res.Rows = make([]json.RawMessage, 0, n)
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	size := s.plan.batch
	next := s.startDecode(dctx, src, 0, min(size, n), s.bufs[0])
	defer func() {
		if next != nil { // stop and wait for the decoders before the buffers are reused
			cancel()
			next.wg.Wait()
		}
	}()
	for k := 0; next != nil; k++ {
		cur := next
		cur.wg.Wait()
		next = nil
		if ctx.Err() != nil {
			return consumer.Result{}, stopped(ctx, b, "decoding")
		}
		if lo := cur.lo + cur.n; lo < n {
			next = s.startDecode(dctx, src, lo, min(size, n-lo), s.bufs[(k+1)%2])
		}
		ok := make([]int, 0, cur.n)
		for i, err := range cur.errs {
			if err != nil {
				res.ItemErrors = append(res.ItemErrors, src.failed(cur.lo+i, err))
				continue
			}
			ok = append(ok, i)
		}
		if len(ok) == 0 {
			continue
		}
		out, per, release, err := s.infer(ctx, cur, ok)
		if err != nil {
			if ctx.Err() != nil {
				return consumer.Result{}, stopped(ctx, b, fmt.Sprintf("running the model (%v)", err))
			}
			return consumer.Result{}, err
		}
		for j, i := range ok {
			res.Rows = append(res.Rows, s.post.row(src.name(cur.lo+i), out[j*per:(j+1)*per], &s.topTmp))
		}
		release()
	}
	return res, nil
}

// infer runs the model on the decoded items ok of job and returns the
// output as float32, per values an item, and what frees it.
func (s *session) infer(ctx context.Context, job *decodeJob, ok []int) ([]float32, int, func(), error) {
	p, buf := s.plan, job.buf
	for j, i := range ok { // close the gaps of failed items
		if i != j {
			dj, uj := buf.item(p, j)
			di, ui := buf.item(p, i)
			copy(dj, di)
			copy(uj, ui)
		}
	}
	m := len(ok)
	runN := m
	if p.fixedBatch > 0 { // pad a fixed batch with zeros
		runN = p.fixedBatch
		for j := m; j < runN; j++ {
			f, u := buf.item(p, j)
			clear(f)
			clear(u)
		}
	}
	in, err := s.inputTensor(buf, runN)
	if err != nil {
		return nil, 0, nil, err
	}
	outs := []ort.Value{nil}
	if s.out != nil {
		if outs[0], err = s.outputTensor(runN); err != nil {
			return nil, 0, nil, err
		}
	}
	if err := s.runModel(ctx, []ort.Value{in}, outs); err != nil {
		if s.out == nil && outs[0] != nil { // ORT may have allocated it before the stop
			_ = outs[0].Destroy()
		}
		return nil, 0, nil, err
	}
	freeOut := func() {}
	if s.out == nil { // ORT allocated it
		t := outs[0]
		freeOut = func() { _ = t.Destroy() }
	}
	data, err := s.floats(outs[0])
	if err != nil || len(data)%runN != 0 {
		freeOut()
		if err == nil {
			err = fmt.Errorf("onnx: output %q holds %d values for %d items", p.out.Name, len(data), runN)
		}
		return nil, 0, nil, &consumer.ScriptError{Type: "ONNXRuntimeError", Message: err.Error()}
	}
	return data, len(data) / runN, freeOut, nil
}

// runModel runs the session and stops it through the run options when ctx
// ends first. Through an I/O binding the run cannot be stopped: ctx is
// checked before and after it.
func (s *session) runModel(ctx context.Context, in, out []ort.Value) error {
	if s.binding != nil {
		return s.runBound(ctx, in[0], out[0])
	}
	if s.terminated {
		if err := s.runOpts.UnsetTerminate(); err != nil {
			return fmt.Errorf("onnx: run options: %w", err)
		}
		s.terminated = false
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		_ = s.runOpts.Terminate()
	})
	err := s.sess.RunWithOptions(in, out, s.runOpts)
	if !stop() {
		<-fired
		s.terminated = true
	}
	if err != nil && !s.terminated {
		return &consumer.ScriptError{Type: "ONNXRuntimeError", Message: err.Error()}
	}
	if s.terminated {
		if err == nil {
			err = errors.New("the run finished as the context ended")
		}
		return fmt.Errorf("onnx: run stopped: %w", err)
	}
	return nil
}

// runBound runs the session through its I/O binding of in and out.
func (s *session) runBound(ctx context.Context, in, out ort.Value) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("onnx: run not started: %w", err)
	}
	if err := s.binding.BindInput(s.plan.in.Name, in); err != nil {
		return fmt.Errorf("onnx: binding input %q: %w", s.plan.in.Name, err)
	}
	if err := s.binding.BindOutput(s.plan.out.Name, out); err != nil {
		return fmt.Errorf("onnx: binding output %q: %w", s.plan.out.Name, err)
	}
	if err := s.sess.RunWithBinding(s.binding); err != nil {
		return &consumer.ScriptError{Type: "ONNXRuntimeError", Message: err.Error()}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("onnx: the run finished as the context ended: %w", err)
	}
	return nil
}

// floats returns v's values as float32.
func (s *session) floats(v ort.Value) ([]float32, error) {
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return t.GetData(), nil
	case *ort.Tensor[float64]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[int64]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[int32]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[int16]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[int8]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[uint64]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[uint32]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[uint16]:
		return convert(s, t.GetData()), nil
	case *ort.Tensor[uint8]:
		return convert(s, t.GetData()), nil
	}
	return nil, fmt.Errorf("output of type %T is not a tensor of numbers", v)
}

func convert[T int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | float64](s *session, d []T) []float32 {
	s.conv = grow(s.conv, len(d))
	for i, v := range d {
		s.conv[i] = float32(v)
	}
	return s.conv
}

// stopped is the error of a batch whose context ended while it was at
// stage: it wraps ctx's error, and consumer.ErrRunTimeout after a deadline.
func stopped(ctx context.Context, b *consumer.Batch, stage string) error {
	err := fmt.Errorf("onnx: batch %d stopped while %s: %w", b.Index, stage, ctx.Err())
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", consumer.ErrRunTimeout, err)
	}
	return err
}
