package onnx

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/contracts"
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

// decodeBench is ImageNet's evaluation preprocessing of 500x375 JPEG files
// (quality 90, photo-like): rgb, shorter side to 256, centre crop 224x224,
// ImageNet mean and std, float32 nchw.
func decodeBench(b *testing.B) (*plan, []string) {
	b.Helper()
	p := imagePlan("shorter_side", 256, 224, 224, false)
	p.itemLen = 3 * 224 * 224
	p.elem = ort.TensorElementDataTypeFloat
	if err := p.normalization(contracts.Preprocess{Scale: 1.0 / 255, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}}); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	paths := make([]string, 32)
	for i := range paths {
		paths[i] = writeFile(b, filepath.Join(dir, fmt.Sprintf("%02d.jpg", i)), encodeJPEG(b, photo(500, 375, uint64(i)), 90))
	}
	return p, paths
}

// threadCPU is the CPU time the calling thread has used (lock it to its
// goroutine first): on a loaded machine a rate per CPU second is a core's
// rate, where wall time also counts the waits for a core.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusageThread is Linux's RUSAGE_THREAD.
const rusageThread = 1

// BenchmarkDecode decodes 500x375 JPEG files to 224x224 float32 tensors
// (decodeBench) on one goroutine locked to its thread, and reports
// images/s/core as images per second of that thread's CPU time (the
// machine may be shared) besides images/s of wall time: std with Go's
// image/jpeg at full size, turbo with libjpeg-turbo (see plan.scaleFor),
// and both alternating the two image by image, which reports their ratio
// from one run (turbo/std, of CPU time).
func BenchmarkDecode(b *testing.B) {
	p, paths := decodeBench(b)
	pt := *p
	pt.turbo = testTurbo(b)
	out := make([]float32, p.itemLen)
	one := func(b *testing.B, p *plan, sc *scratch, i int) {
		pix, err := p.decodeImage(paths[i%len(paths)], sc)
		if err != nil {
			b.Fatal(err)
		}
		p.store(pix, out, nil)
	}
	for _, tc := range []struct {
		name string
		p    *plan
	}{{"std", p}, {"turbo", &pt}} {
		b.Run(tc.name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var sc scratch
			i, cpu0 := 0, threadCPU()
			for b.Loop() {
				one(b, tc.p, &sc, i)
				i++
			}
			b.ReportMetric(float64(i)/(threadCPU()-cpu0).Seconds(), "images/s/core")
			b.ReportMetric(float64(i)/b.Elapsed().Seconds(), "images/s")
		})
	}
	b.Run("both", func(b *testing.B) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var ss, ts scratch
		var std, turbo time.Duration
		i := 0
		for b.Loop() {
			t0 := threadCPU()
			one(b, p, &ss, i)
			t1 := threadCPU()
			one(b, &pt, &ts, i)
			std, turbo = std+t1-t0, turbo+threadCPU()-t1
			i++
		}
		b.ReportMetric(float64(i)/std.Seconds(), "std_images/s/core")
		b.ReportMetric(float64(i)/turbo.Seconds(), "turbo_images/s/core")
		b.ReportMetric(std.Seconds()/turbo.Seconds(), "turbo/std")
	})
}
