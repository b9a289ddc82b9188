package onnx

import (
	"context"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// BenchmarkDigits scores the held-out digits (8x8 PNG) at model batch size
// 32 two ways, each iteration over all of them: (a) the model alone, on
// tensors built before the clock starts, and (b) the handler's whole Run:
// decode, preprocess, ORT, rows. It reports images/s of both and their
// ratio (handler/model: the share of the model's speed that the handler
// keeps). The digits model is tiny, so the ratio is the worst case: for
// real models the model's time dominates.
func BenchmarkDigits(b *testing.B) {
	ds := expected(b)
	paths := digitPaths(ds)
	n := len(paths)
	bundle := setup(b)
	h := bundle.handler(b)
	s := h.(*handler).s
	p := s.plan

	// (a) The handler's session, and every model batch's tensors built once.
	sess := s.sess
	all := make([]float32, n*p.itemLen)
	var sc scratch
	for i, path := range paths {
		pix, err := p.decodeImage(path, &sc)
		if err != nil {
			b.Fatal(err)
		}
		p.store(pix, all[i*p.itemLen:(i+1)*p.itemLen], nil)
	}
	var ins, outs []ort.Value
	for lo := 0; lo < n; lo += p.batch {
		m := min(p.batch, n-lo)
		in, err := ort.NewTensor(p.inputShape(m), all[lo*p.itemLen:(lo+m)*p.itemLen])
		if err != nil {
			b.Fatal(err)
		}
		out, err := ort.NewEmptyTensor[float32](p.outputShape(m))
		if err != nil {
			b.Fatal(err)
		}
		ins, outs = append(ins, in), append(outs, out)
	}
	defer func() {
		for i := range ins {
			_ = ins[i].Destroy()
			_ = outs[i].Destroy()
		}
	}()
	bt := batch(paths...)
	ctx := context.Background()
	var model, whole time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for i := range ins {
			if err := sess.Run(ins[i:i+1], outs[i:i+1]); err != nil {
				b.Fatal(err)
			}
		}
		model += time.Since(start)
		start = time.Now()
		res, err := h.Run(ctx, bt)
		if err != nil || len(res.Rows) != n {
			b.Fatalf("Run: %d rows, %v", len(res.Rows), err)
		}
		whole += time.Since(start)
	}
	images := float64(n * b.N)
	b.ReportMetric(images/model.Seconds(), "model_images/s")
	b.ReportMetric(images/whole.Seconds(), "handler_images/s")
	b.ReportMetric(model.Seconds()/whole.Seconds(), "handler/model")
}
