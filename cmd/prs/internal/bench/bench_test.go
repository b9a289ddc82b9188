package bench

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tinyConfig is a whole benchmark that runs in a few seconds: 44 images of
// 64x64 (the last raw run and the last mini-batch are short), two slots.
func tinyConfig(t *testing.T) Config {
	c := DefaultConfig()
	c.Model = writeModel(t, "tiny.onnx", tinyModel(64))
	c.Images, c.Size, c.ModelBatchSize, c.MiniBatchSize, c.Slots = 44, 64, 8, 16, 2
	c.Library = testLibrary(t)
	c.WorkDir = t.TempDir()
	return c
}

func TestRunMeasuresEveryStage(t *testing.T) {
	c := tinyConfig(t)
	var progress bytes.Buffer
	c.Progress = &progress
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Stage{"decode": r.Decode, "raw": r.Raw, "handler": r.Handler, "pipeline": r.Pipeline.Stage} {
		if s.Images != c.Images || s.Seconds <= 0 || s.PerSecond <= 0 {
			t.Errorf("%s: %+v, want %d images in some time", name, s, c.Images)
		}
	}
	p := r.Pipeline
	// Submit returns after the last message is published; workers may
	// finish the first mini-batches before that.
	if !(0 <= p.Submit && p.Submit <= p.Seconds && 0 <= p.FirstResult && p.FirstResult <= p.LastResult && p.LastResult <= p.Seconds) {
		t.Errorf("pipeline timeline out of order: %+v", p)
	}
	if r.Ratio <= 0 || r.Input != `"input" [-1 3 64 64] float32` || r.MeanJPEGBytes <= 0 {
		t.Errorf("result: ratio %v, input %s, mean JPEG %d bytes", r.Ratio, r.Input, r.MeanJPEGBytes)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"raw model", "pipeline, Submit to Completed", "ratio", "decode+preprocess", "model_batch_size 8, mini_batch_size 16, slots 2"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(progress.String(), "pipeline: a warm-up job of 32 images") {
		t.Errorf("progress: %s", progress.String())
	}
	if ents, err := os.ReadDir(c.WorkDir); err != nil || len(ents) != 0 {
		t.Errorf("the work folder was not removed: %v %v", ents, err)
	}
}

func TestRunKeepsItsFolder(t *testing.T) {
	c := DefaultConfig()
	c.Model = writeModel(t, "tiny.onnx", tinyModel(16))
	c.Images, c.Size, c.ModelBatchSize, c.MiniBatchSize = 8, 16, 4, 4
	c.Library, c.WorkDir, c.Keep = testLibrary(t), t.TempDir(), true
	r, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(r.WorkDir) != c.WorkDir {
		t.Fatalf("kept %q, want a folder in %s", r.WorkDir, c.WorkDir)
	}
	if err := checkRows(filepath.Join(r.WorkDir, "out", "parallel_run_step.txt"), 8); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.WorkDir, "images", imageName(7))); err != nil {
		t.Fatal(err)
	}
	// One slot, two mini-batches: the second is the steady part.
	if r.Pipeline.Steady.Images != 4 || r.SteadyRatio <= 0 {
		t.Errorf("steady %+v, ratio %v", r.Pipeline.Steady, r.SteadyRatio)
	}
}

func TestRunRejectsBadSettings(t *testing.T) {
	model := writeModel(t, "tiny.onnx", tinyModel(64))
	for name, change := range map[string]func(*Config){
		"no model":          func(c *Config) { c.Model = "" },
		"images 0":          func(c *Config) { c.Images = 0 },
		"size -1":           func(c *Config) { c.Size = -1 },
		"model batch 0":     func(c *Config) { c.ModelBatchSize = 0 },
		"mini-batch 0":      func(c *Config) { c.MiniBatchSize = 0 },
		"slots 0":           func(c *Config) { c.Slots = 0 },
		"provider rocm":     func(c *Config) { c.ExecutionProvider = "rocm" },
		"negative device":   func(c *Config) { c.DeviceIDs = []int{0, -1} },
		"negative threads":  func(c *Config) { c.IntraOpThreads = -2 },
		"quality 101":       func(c *Config) { c.Quality = 101 },
		"too many images":   func(c *Config) { c.Images = maxImages + 1 },
		"zero config model": func(c *Config) { *c = Config{Model: model} },
		"image size alone":  func(c *Config) { c.ImageWidth, c.ImageHeight = 500, 375 },
		"resize under crop": func(c *Config) { c.ResizeTo = 32 },
		"jpeg decoder fast": func(c *Config) { c.JPEGDecoder = "fast" },
		"cuda on the cpu":   func(c *Config) { c.CUDA.PreferNHWC = true },
		"gpu_mem_limit":     func(c *Config) { c.ExecutionProvider, c.CUDA.GPUMemLimit = "cuda", "lots" },
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.Model = model
			change(&c)
			if _, err := Run(context.Background(), c); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRunRejectsModelsThatAreNotNCHWImages(t *testing.T) {
	lib := testLibrary(t)
	for name, tc := range map[string]struct {
		model []byte
		size  int
		want  string
	}{
		"one channel":      {poolModel(-1, 1, 64), 64, "channel"},
		"other image size": {tinyModel(64), 32, "size"},
		"fixed batch":      {poolModel(4, 3, 64), 64, "batch dimension is fixed at 4"},
		"not ONNX":         {[]byte("not a model"), 64, "cannot be loaded"},
	} {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			c.Model = writeModel(t, "model.onnx", tc.model)
			c.Size, c.Library, c.WorkDir = tc.size, lib, t.TempDir()
			_, err := Run(context.Background(), c)
			if !errors.Is(err, ErrModel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrModel mentioning %q", err, tc.want)
			}
		})
	}
	c := DefaultConfig()
	c.Model, c.Library = filepath.Join(t.TempDir(), "missing.onnx"), lib
	if _, err := Run(context.Background(), c); !errors.Is(err, ErrModel) {
		t.Fatalf("missing model: %v", err)
	}
}

func TestImagesAreDeterministicJPEGsOfTheSize(t *testing.T) {
	ctx := context.Background()
	a, _, err := writeImages(ctx, t.TempDir(), 3, 40, 40, 7, 90)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := writeImages(ctx, t.TempDir(), 3, 40, 40, 7, 90)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		da, _ := os.ReadFile(a[i])
		db, _ := os.ReadFile(b[i])
		if !bytes.Equal(da, db) || filepath.Base(a[i]) != imageName(i) {
			t.Fatalf("image %d differs between two runs with the same seed", i)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(da))
		if err != nil || cfg.Width != 40 || cfg.Height != 40 {
			t.Fatalf("image %d: %+v %v", i, cfg, err)
		}
	}
	d0, _ := os.ReadFile(a[0])
	d1, _ := os.ReadFile(a[1])
	if bytes.Equal(d0, d1) {
		t.Fatal("two images are the same")
	}
}

func TestTimelineLeavesTheJobStartOut(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	calls := []span{
		{slot: 0, init: true, start: at(100), end: at(400)},
		{slot: 1, init: true, start: at(100), end: at(600)},
		{slot: 0, start: at(400), end: at(500), items: 10},  // slot 0's first
		{slot: 0, start: at(500), end: at(600), items: 10},  // before slot 1's first ended
		{slot: 1, start: at(600), end: at(700), items: 10},  // slot 1's first: ready at 700
		{slot: 0, start: at(700), end: at(800), items: 10},  // steady
		{slot: 1, start: at(700), end: at(800), items: 10},  // steady
		{slot: 0, start: at(800), end: at(900), items: 5},   // steady
		{slot: 0, init: true, start: at(800), end: at(800)}, // a later Init is no opening
	}
	var p PipelineStage
	p.timeline(calls, t0, at(1000))
	if p.SessionStart != 0.5 || p.FirstResult != 0.5 || p.LastResult != 0.9 {
		t.Errorf("timeline %+v", p)
	}
	if p.Steady.Images != 25 || p.Steady.Seconds != 0.3 {
		t.Errorf("steady %+v, want 25 images in 0.3s", p.Steady)
	}
}

// TestRunImageNetLike runs the stages on photo-sized files resized and
// cropped as ImageNet's evaluation does (shorter side, then centre crop),
// with libjpeg-turbo and an I/O binding: every image is scored, and the
// report says what ran.
func TestRunImageNetLike(t *testing.T) {
	c := tinyConfig(t)
	c.ImageWidth, c.ImageHeight, c.ResizeTo = 100, 75, 72
	c.JPEGDecoder, c.IOBinding = "turbo", true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]Stage{"decode": r.Decode, "raw": r.Raw, "handler": r.Handler, "pipeline": r.Pipeline.Stage} {
		if s.Images != c.Images || s.PerSecond <= 0 {
			t.Errorf("%s: %+v, want %d images", name, s, c.Images)
		}
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"JPEG 100x75", "resize shorter side to 72, centre crop 64x64; JPEG decoder libjpeg-turbo", "io_binding true, cuda default"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
