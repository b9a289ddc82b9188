package onnx

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// TestDigitsMatchExpected scores every held-out digit in one mini-batch:
// each row is "<file>: <label>" in item order, every prediction is the
// generator's, and accuracy is at least 0.9.
func TestDigitsMatchExpected(t *testing.T) {
	t.Parallel()
	ds := expected(t)
	h := setup(t).handler(t)
	res := run(t, h, batch(digitPaths(ds)...))
	if len(res.ItemErrors) != 0 {
		t.Fatalf("item errors: %v", res.ItemErrors)
	}
	rows := texts(t, res)
	if len(rows) != len(ds) {
		t.Fatalf("%d rows for %d items", len(rows), len(ds))
	}
	right := 0
	for i, d := range ds {
		if want := d.file + ": " + d.prediction; rows[i] != want {
			t.Errorf("row %d is %q, want %q", i, rows[i], want)
		}
		if rows[i] == d.file+": "+d.label {
			right++
		}
	}
	acc := float64(right) / float64(len(ds))
	t.Logf("accuracy %.4f over %d images", acc, len(ds))
	if acc < 0.9 {
		t.Errorf("accuracy %.4f < 0.9", acc)
	}
}

// TestModelBatchSizes gives model batch sizes that do not divide the
// items: the rows are the same as with the default, and a handler runs
// many mini-batches of different sizes with the same session.
func TestModelBatchSizes(t *testing.T) {
	t.Parallel()
	ds := expected(t)
	paths := digitPaths(ds)
	for _, size := range []int{1, 7, 32, 500} {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			b.cfg.ModelBatchSize = size
			h := b.handler(t)
			for _, n := range []int{len(ds), 45, 1} {
				rows := texts(t, run(t, h, batch(paths[:n]...)))
				if len(rows) != n {
					t.Fatalf("model_batch_size %d: %d rows for %d items", size, len(rows), n)
				}
				for i, d := range ds[:n] {
					if want := d.file + ": " + d.prediction; rows[i] != want {
						t.Fatalf("model_batch_size %d, %d items: row %d is %q, want %q", size, n, i, rows[i], want)
					}
				}
			}
		})
	}
}

// TestBadItemsFailAlone puts a corrupt PNG, a PNG of the wrong size, a
// missing file and a text file among good images: each fails alone with
// an ItemError at its index, the others get their rows in order.
func TestBadItemsFailAlone(t *testing.T) {
	t.Parallel()
	ds := expected(t)[:40]
	paths := digitPaths(ds)
	dir := t.TempDir()
	good, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	corrupt := writeFile(t, filepath.Join(dir, "corrupt.png"), good[:len(good)/2])
	big := writeFile(t, filepath.Join(dir, "big.png"), encodePNG(t, grayImage(16, 16, 100)))
	text := writeFile(t, filepath.Join(dir, "notes.png"), []byte("not an image\n"))
	bad := map[int]string{ // index in the batch -> what its error says
		0:  "decoding the png image",
		5:  "image is 16x16 (width x height), the model takes 8x8",
		33: "no such file",
		39: "not a PNG, JPEG, GIF, BMP or WebP image",
	}
	in := append([]string(nil), paths...)
	in[0], in[5], in[33], in[39] = corrupt, big, filepath.Join(dir, "missing.png"), text
	for _, size := range []int{32, 5} {
		b := setup(t)
		b.cfg.ModelBatchSize = size
		res := run(t, b.handler(t), batch(in...))
		if len(res.ItemErrors) != len(bad) {
			t.Fatalf("model_batch_size %d: item errors %v, want %d", size, res.ItemErrors, len(bad))
		}
		for _, ie := range res.ItemErrors {
			want, ok := bad[ie.Index]
			if !ok {
				t.Fatalf("item %d failed: %s", ie.Index, ie.Err)
			}
			if !strings.Contains(ie.Err, want) {
				t.Errorf("item %d: error %q does not contain %q", ie.Index, ie.Err, want)
			}
		}
		rows := texts(t, res)
		var want []string
		for i, d := range ds {
			if _, ok := bad[i]; !ok {
				want = append(want, d.file+": "+d.prediction)
			}
		}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("model_batch_size %d: rows\n%s\nwant\n%s", size, strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestOnlyBadItems gives a mini-batch in which nothing decodes.
func TestOnlyBadItems(t *testing.T) {
	t.Parallel()
	h := setup(t).handler(t)
	res := run(t, h, batch("/nonexistent/a.png", "/nonexistent/b.png"))
	if len(res.Rows) != 0 || len(res.ItemErrors) != 2 {
		t.Fatalf("rows %v, item errors %v", res.Rows, res.ItemErrors)
	}
	if res := run(t, h, batch()); len(res.Rows) != 0 || len(res.ItemErrors) != 0 {
		t.Fatalf("an empty batch gave %+v", res)
	}
}

// TestPostprocessKinds scores with the digits model and every postprocess
// kind and format.
func TestPostprocessKinds(t *testing.T) {
	t.Parallel()
	ds := expected(t)[:3]
	paths := digitPaths(ds)
	for _, tc := range []struct {
		post  contracts.Postprocess
		check func(t *testing.T, d digit, row json.RawMessage)
	}{
		{contracts.Postprocess{Kind: "argmax", Format: "json", Softmax: true}, func(t *testing.T, d digit, row json.RawMessage) {
			var r struct {
				File, Label string
				Index       int
				Score       float64
			}
			mustUnmarshal(t, row, &r)
			if r.File != d.file || r.Label != d.prediction || r.Score <= 0.1 || r.Score > 1 {
				t.Errorf("row %s for %v", row, d)
			}
		}},
		{contracts.Postprocess{Kind: "topk", TopK: 3, Format: "json"}, func(t *testing.T, d digit, row json.RawMessage) {
			var r struct {
				File string
				TopK []struct {
					Label string
					Index int
					Score float64
				}
			}
			mustUnmarshal(t, row, &r)
			if r.File != d.file || len(r.TopK) != 3 || r.TopK[0].Label != d.prediction || r.TopK[0].Score < r.TopK[1].Score {
				t.Errorf("row %s for %v", row, d)
			}
		}},
		{contracts.Postprocess{Kind: "softmax", Format: "json"}, func(t *testing.T, d digit, row json.RawMessage) {
			var r struct {
				File   string
				Output []float64
			}
			mustUnmarshal(t, row, &r)
			sum := 0.0
			for _, v := range r.Output {
				sum += v
			}
			if r.File != d.file || len(r.Output) != 10 || sum < 0.999 || sum > 1.001 {
				t.Errorf("row %s for %v (sum %g)", row, d, sum)
			}
		}},
		{contracts.Postprocess{Kind: "raw"}, func(t *testing.T, d digit, row json.RawMessage) {
			var s string
			mustUnmarshal(t, row, &s)
			file, vec, ok := strings.Cut(s, ": ")
			var out []float64
			if !ok || file != d.file || json.Unmarshal([]byte(vec), &out) != nil || len(out) != 10 {
				t.Errorf("row %s for %v", row, d)
			}
		}},
		{contracts.Postprocess{Kind: "topk", TopK: 2}, func(t *testing.T, d digit, row json.RawMessage) {
			var s string
			mustUnmarshal(t, row, &s)
			if !strings.HasPrefix(s, d.file+": "+d.prediction+" (") || strings.Count(s, "(") != 2 {
				t.Errorf("row %s for %v", row, d)
			}
		}},
	} {
		b := setup(t)
		b.cfg.Postprocess = tc.post
		res := run(t, b.handler(t), batch(paths...))
		if len(res.Rows) != len(ds) {
			t.Fatalf("%+v: %d rows", tc.post, len(res.Rows))
		}
		for i, d := range ds {
			tc.check(t, d, res.Rows[i])
		}
	}
}

func mustUnmarshal(t *testing.T, row json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(row, v); err != nil {
		t.Fatalf("row %s: %v", row, err)
	}
}

// TestProbabilitiesOutputAndDefaults picks the model's other output and
// leaves the input name, mode, size and dtype to the model.
func TestProbabilitiesOutputAndDefaults(t *testing.T) {
	t.Parallel()
	ds := expected(t)
	b := setup(t)
	b.cfg.InputName, b.cfg.OutputName = "", "probabilities"
	b.cfg.Preprocess = contracts.Preprocess{}
	b.cfg.Labels, b.env.Labels = "", ""
	rows := texts(t, run(t, b.handler(t), batch(digitPaths(ds)...)))
	for i, d := range ds {
		if want := d.file + ": " + d.prediction; rows[i] != want {
			t.Fatalf("row %d is %q, want %q", i, rows[i], want)
		}
	}
}

// TestNPYItems scores the digits from .npy files made from digits.csv:
// float32 [1,1,8,8], float64 [1,8,8] and a bad one.
func TestNPYItems(t *testing.T) {
	t.Parallel()
	ds, pixels := digitsCSV(t)
	dir := t.TempDir()
	var paths []string
	for i := range 20 {
		var p string
		if i%2 == 0 {
			p = writeFile(t, filepath.Join(dir, ds[i]+".npy"), npyFile("<f4", []int{1, 1, 8, 8}, f32bytes(pixels[i])))
		} else {
			p = writeFile(t, filepath.Join(dir, ds[i]+".npy"), npyFile("<f8", []int{1, 8, 8}, f64bytes(pixels[i])))
		}
		paths = append(paths, p)
	}
	paths[3] = writeFile(t, filepath.Join(dir, "bad.npy"), npyFile("<f4", []int{64}, f32bytes(pixels[3])))
	b := setup(t)
	b.cfg.Preprocess = contracts.Preprocess{Kind: "npy"}
	res := run(t, b.handler(t), batch(paths...))
	if len(res.ItemErrors) != 1 || res.ItemErrors[0].Index != 3 || !strings.Contains(res.ItemErrors[0].Err, "shape [64]") {
		t.Fatalf("item errors %v", res.ItemErrors)
	}
	rows := texts(t, res)
	want := map[string]string{}
	for _, d := range expected(t) {
		want[strings.TrimSuffix(d.file, ".png")] = d.prediction
	}
	j := 0
	for i := range 20 {
		if i == 3 {
			continue
		}
		if w := ds[i] + ".npy: " + want[ds[i]]; rows[j] != w {
			t.Errorf("row %d is %q, want %q", j, rows[j], w)
		}
		j++
	}
}

// TestInitErrors: settings that do not fit the model, a file that is not
// ONNX and a missing library fail Init with errors that say what to do.
func TestInitErrors(t *testing.T) {
	t.Parallel()
	notONNX := writeFile(t, filepath.Join(t.TempDir(), "model.onnx"), []byte("this is not a model\n"))
	for _, tc := range []struct {
		name   string
		change func(b *testBundle)
		is     error
		want   []string
	}{
		{"not onnx", func(b *testBundle) { b.env.Model = notONNX }, nil, []string{"onnx: model " + notONNX + " cannot be loaded (is it an ONNX file?)"}},
		{"no model", func(b *testBundle) { b.env.Model = "/nonexistent/model.onnx" }, os.ErrNotExist, []string{"/nonexistent/model.onnx"}},
		{"input name", func(b *testBundle) { b.cfg.InputName = "image" }, ErrMismatch, []string{"onnx.input_name", `no input "image"`, `"pixels" [-1 1 8 8] float32`}},
		{"output name", func(b *testBundle) { b.cfg.OutputName = "scores" }, ErrMismatch, []string{"onnx.output_name", `"logits" [-1 10] float32`, `"probabilities" [-1 10] float32`}},
		{"mode", func(b *testBundle) { b.cfg.Preprocess.Mode = "rgb" }, ErrMismatch, []string{"onnx.preprocess.mode", "mode rgb gives 3 channel(s)", "has 1 channels"}},
		{"layout", func(b *testBundle) { b.cfg.Preprocess.Layout = "nhwc" }, ErrMismatch, []string{"onnx.preprocess.mode", "has 8 channels in layout nhwc"}},
		{"size", func(b *testBundle) { b.cfg.Preprocess.Size = []int{28, 28} }, ErrMismatch, []string{"onnx.preprocess.size", "size [28, 28]", "takes [8, 8]"}},
		{"dtype", func(b *testBundle) { b.cfg.Preprocess.DType = "uint8" }, ErrMismatch, []string{"onnx.preprocess.dtype", "holds float32"}},
		{"mean", func(b *testBundle) { b.cfg.Preprocess.Mean = []float64{0.1, 0.2, 0.3} }, ErrMismatch, []string{"onnx.preprocess.mean", "3 values for 1 channel"}},
		{"npy", func(b *testBundle) { b.cfg.Preprocess = contracts.Preprocess{Kind: "npy", DType: "uint8"} }, ErrMismatch, []string{"onnx.preprocess.dtype"}},
		{"tabular", func(b *testBundle) { b.cfg.Preprocess.Kind = "tabular" }, contracts.ErrInvalid, []string{"onnx.preprocess.kind", "kind tabular scores the rows of a tabular input"}},
		{"labels", func(b *testBundle) { b.env.Labels = "/nonexistent/labels.txt" }, os.ErrNotExist, []string{"/nonexistent/labels.txt"}},
		{"library", func(b *testBundle) { b.lib = "/nonexistent/libonnxruntime.so.1" }, nil, []string{"/nonexistent/libonnxruntime.so.1", "no such file", InstallHint}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			tc.change(b)
			var err error
			if tc.name == "tabular" {
				_, err = b.newHandler(t) // refused before any Init
			} else {
				err = b.initErr(t)
			}
			mustContain(t, err, tc.want...)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
}

// TestCUDAWithoutGPU asks for CUDA where there is none (or where the
// library has no CUDA provider beside it): Init and Check fail with an
// error that names the provider and the device, and nothing panics.
func TestCUDAWithoutGPU(t *testing.T) {
	t.Parallel()
	for _, ep := range []string{"cuda", "tensorrt"} {
		b := setup(t)
		b.cfg.ExecutionProvider = ep
		b.cfg.DeviceIDs = []int{3, 5}
		h, err := b.newHandler(t)
		if err != nil {
			t.Fatal(err)
		}
		err = h.Init(t.Context())
		checkErr := Check(t.Context(), b.cfg, b.cfg.Model, b.lib)
		if err == nil && checkErr == nil && haveGPU() {
			t.Logf("%s works on this machine", ep)
			continue
		}
		var pe *ProviderError
		for _, e := range []error{err, checkErr} {
			if !errors.As(e, &pe) || pe.Provider != ep {
				t.Fatalf("%s: error %v (%T) is no *ProviderError", ep, e, e)
			}
		}
		mustContain(t, err, "execution_provider "+ep+" on device 5", "no fallback to the CPU")
		mustContain(t, checkErr, "execution_provider "+ep+" on device 3")
		t.Logf("%s: %v", ep, err)
	}
}

func haveGPU() bool {
	_, err := os.Stat("/dev/nvidia0")
	return err == nil
}

// TestTimeoutStopsTheModel runs a model that takes long under a deadline
// of a tenth of its time: ORT is stopped through the run options, Run
// returns well before the model would have finished, with
// consumer.ErrRunTimeout, and the same handler runs again afterwards.
func TestTimeoutStopsTheModel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env.Model = writeFile(t, filepath.Join(t.TempDir(), "slow.onnx"), slowModel(slowLayers, slowWidth))
	b.cfg.OutputName = ""
	h := b.handler(t)
	paths := digitPaths(expected(t))[:32]

	start := time.Now()
	run(t, h, batch(paths...))
	full := time.Since(start)
	if full < 200*time.Millisecond {
		t.Fatalf("the slow model took only %v: make it slower (slowLayers)", full)
	}
	ctx, cancel := context.WithTimeout(t.Context(), full/10)
	defer cancel()
	start = time.Now()
	res, err := h.Run(ctx, batch(paths...))
	took := time.Since(start)
	t.Logf("a model batch takes %v; under a deadline of %v Run returned after %v: %v", full, full/10, took, err)
	if !errors.Is(err, consumer.ErrRunTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v wraps no ErrRunTimeout and DeadlineExceeded", err)
	}
	mustContain(t, err, "running the model")
	if len(res.Rows) != 0 {
		t.Errorf("a stopped run returned %d rows", len(res.Rows))
	}
	if took > full/2 {
		t.Errorf("Run returned after %v, the model takes %v: it was not stopped", took, full)
	}

	// The session works after a stopped run.
	if res := run(t, h, batch(paths[:1]...)); len(res.Rows) != 1 {
		t.Fatalf("rows %v", res.Rows)
	}
}

// TestFactoryChecksTheJob: a job without onnx settings builds no handler.
// (The factory's common behaviour is in TestHandlerConformance.)
func TestFactoryChecksTheJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.env.Job.Config.ONNX = nil
	if _, err := Factory(Options{})(t.Context(), b.env); err == nil {
		t.Fatal("a job without onnx settings was accepted")
	}
}
