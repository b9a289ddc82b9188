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
	// terminated says runOpts' terminate flag is set: a Run was stopped.
	terminated bool
	workers    int

	// Two input buffers: items of model batch k+1 decode into one while
	// the model reads model batch k from the other.
	bufs    [2]*inputBuf
	out     []float32 // the output of one model batch, when ORT can write to it
	outFull ort.Value // a tensor over out for a whole model batch
	conv    []float32 // an output of another element type, as float32
	topTmp  []int
	scratch sync.Pool // *scratch
}

// inputBuf holds the input of one model batch.
type inputBuf struct {
	f32  []float32
	u8   []uint8
	full ort.Value // a tensor over the whole buffer
}

func newSessionState(p *plan, post *post, sess *ort.DynamicAdvancedSession, workers int) (*session, error) {
	s := &session{plan: p, post: post, sess: sess, workers: max(1, workers)}
	s.scratch.New = func() any { return new(scratch) }
	var err error
	if s.runOpts, err = ort.NewRunOptions(); err != nil {
		return nil, fmt.Errorf("onnx: run options: %w", err)
	}
	for i := range s.bufs {
		b := &inputBuf{}
		n := p.batch * p.itemLen
		if p.elem == ort.TensorElementDataTypeFloat {
			b.f32 = make([]float32, n)
			b.full, err = ort.NewTensor(p.inputShape(p.batch), b.f32)
		} else {
			b.u8 = make([]uint8, n)
			b.full, err = ort.NewTensor(p.inputShape(p.batch), b.u8)
		}
		if err != nil {
			_ = s.close()
			return nil, fmt.Errorf("onnx: input tensor %v: %w", p.inputShape(p.batch), err)
		}
		s.bufs[i] = b
	}
	if p.outFloat && p.outLen > 0 {
		s.out = make([]float32, p.batch*p.outLen)
		t, err := ort.NewTensor(p.outputShape(p.batch), s.out)
		if err != nil {
			_ = s.close()
			return nil, fmt.Errorf("onnx: output tensor %v: %w", p.outputShape(p.batch), err)
		}
		s.outFull = t
	}
	return s, nil
}

func (s *session) close() error {
	for _, b := range s.bufs {
		if b != nil && b.full != nil {
			_ = b.full.Destroy()
		}
	}
	if s.outFull != nil {
		_ = s.outFull.Destroy()
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

// tensor returns a tensor over the first n items, and what frees it.
func (b *inputBuf) tensor(p *plan, n int) (ort.Value, func(), error) {
	if n == p.batch {
		return b.full, func() {}, nil
	}
	var (
		t   ort.Value
		err error
	)
	if b.f32 != nil {
		t, err = ort.NewTensor(p.inputShape(n), b.f32[:n*p.itemLen])
	} else {
		t, err = ort.NewTensor(p.inputShape(n), b.u8[:n*p.itemLen])
	}
	if err != nil {
		return nil, nil, err
	}
	return t, func() { _ = t.Destroy() }, nil
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
	in, freeIn, err := buf.tensor(p, runN)
	if err != nil {
		return nil, 0, nil, fmt.Errorf("onnx: input tensor: %w", err)
	}
	defer freeIn()
	outs := []ort.Value{nil}
	freeOut := func() {}
	switch {
	case s.outFull != nil && runN == p.batch:
		outs[0] = s.outFull
	case s.outFull != nil:
		t, err := ort.NewTensor(p.outputShape(runN), s.out[:runN*p.outLen])
		if err != nil {
			return nil, 0, nil, fmt.Errorf("onnx: output tensor: %w", err)
		}
		outs[0], freeOut = t, func() { _ = t.Destroy() }
	}
	if err := s.runModel(ctx, []ort.Value{in}, outs); err != nil {
		freeOut()
		if s.outFull == nil && outs[0] != nil { // ORT may have allocated it before the stop
			_ = outs[0].Destroy()
		}
		return nil, 0, nil, err
	}
	if s.outFull == nil { // ORT allocated it
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
// ends first.
func (s *session) runModel(ctx context.Context, in, out []ort.Value) error {
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
