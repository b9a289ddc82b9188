package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/internal/turbojpeg"
)

// Run generates the images and runs every stage (see the package comment).
// Errors wrapping ErrInvalid or ErrModel are the caller's to fix; others
// come from the stages.
func Run(ctx context.Context, c Config) (*Result, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	library, err := filepath.Abs(onnx.ResolveLibrary(c.Library, ""))
	if err != nil {
		return nil, err
	}
	if c.Model, err = filepath.Abs(c.Model); err != nil {
		return nil, err
	}
	progress := func(format string, args ...any) { fmt.Fprintf(c.Progress, "bench: "+format+"\n", args...) }
	m, err := loadModel(ctx, &c, library)
	if err != nil {
		return nil, err
	}
	r := newResult(&c, m, library)
	if c.MiniBatchSize%c.ModelBatchSize != 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("mini_batch_size %d is not a multiple of model_batch_size %d: each mini-batch ends with a shorter model run",
			c.MiniBatchSize, c.ModelBatchSize))
	}
	if len(c.DeviceIDs) > 1 && c.ExecutionProvider != "cpu" {
		r.Notes = append(r.Notes, fmt.Sprintf("the raw stage uses device %d alone; the pipeline's slots are spread over %v", c.DeviceIDs[0], c.DeviceIDs))
	}

	dir, err := os.MkdirTemp(c.WorkDir, "prs-bench-")
	if err != nil {
		return nil, err
	}
	if c.Keep {
		r.WorkDir = dir
	} else {
		defer func() { _ = os.RemoveAll(dir) }()
	}

	progress("generating %d JPEG files of %dx%d in %s", c.Images, c.ImageWidth, c.ImageHeight, dir)
	t0 := time.Now()
	paths, bytes, err := writeImages(ctx, filepath.Join(dir, "images"), c.Images, c.ImageWidth, c.ImageHeight, c.Seed, c.Quality)
	if err != nil {
		return nil, fmt.Errorf("generating the images: %w", err)
	}
	r.GenerateTime = time.Since(t0).Seconds()
	r.MeanJPEGBytes = bytes / int64(c.Images)
	warm, err := linkImages(filepath.Join(dir, "warmup"), paths[:min(len(paths), c.MiniBatchSize*c.Slots)])
	if err != nil {
		return nil, fmt.Errorf("the warm-up job's images: %w", err)
	}

	progress("decode+preprocess only: the handler with a probe model on the CPU")
	probe := filepath.Join(dir, "probe.onnx")
	if err := os.WriteFile(probe, probeModel(c.Size), 0o644); err != nil {
		return nil, err
	}
	if r.Decode, err = runDirect(ctx, &c, c.onnxConfig(probe, library, "cpu"), paths); err != nil {
		return nil, fmt.Errorf("decode stage: %w", err)
	}

	progress("raw model: %d images in model batches of %d on %s", c.Images, c.ModelBatchSize, c.ExecutionProvider)
	if r.Raw, err = runRaw(ctx, &c, m, c.Images); err != nil {
		return nil, fmt.Errorf("raw stage: %w", err)
	}

	cfg := c.onnxConfig(c.Model, library, c.ExecutionProvider)
	cfg.IOBinding, cfg.CUDA = c.IOBinding, c.CUDA
	progress("handler, called directly: %d images in mini-batches of %d", c.Images, c.MiniBatchSize)
	if r.Handler, err = runDirect(ctx, &c, cfg, paths); err != nil {
		return nil, fmt.Errorf("handler stage: %w", err)
	}

	progress("pipeline: a warm-up job of %d images, then the job of %d, %d slot(s)", len(warm), c.Images, c.Slots)
	p, err := startPipeline(ctx, &c, dir, cfg)
	if err != nil {
		return nil, fmt.Errorf("pipeline stage: %w", err)
	}
	defer p.close()
	if _, err := p.job(ctx, filepath.Dir(warm[0]), filepath.Join(dir, "out-warmup"), len(warm)); err != nil {
		return nil, fmt.Errorf("pipeline stage, warm-up job: %w", err)
	}
	if r.Pipeline, err = p.job(ctx, filepath.Dir(paths[0]), filepath.Join(dir, "out"), c.Images); err != nil {
		return nil, fmt.Errorf("pipeline stage: %w", err)
	}
	r.ratios()
	if s := r.limits(); s != "" {
		r.Notes = append(r.Notes, s)
	}
	return r, nil
}

// newResult is the result's description of the run, before any figure.
func newResult(c *Config, m *modelInfo, library string) *Result {
	return &Result{
		Model: c.Model, Input: describe(m.in), Output: describe(m.out),
		Provider: c.ExecutionProvider, DeviceIDs: c.DeviceIDs, Library: library, ORTVersion: ort.GetVersion(),
		CPU: cpuName(), CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Images: c.Images, Size: c.Size, Quality: c.Quality, ImageWidth: c.ImageWidth, ImageHeight: c.ImageHeight,
		ResizeTo: c.ResizeTo, JPEGDecoder: jpegDecoder(c.JPEGDecoder), IOBinding: c.IOBinding, CUDA: c.CUDA,
		ModelBatchSize: c.ModelBatchSize, MiniBatchSize: c.MiniBatchSize, Slots: c.Slots, IntraOpThreads: c.IntraOpThreads,
	}
}

// jpegDecoder says which decoder the stages' handlers use for setting
// (onnx.preprocess.jpeg_decoder), as they resolve it.
func jpegDecoder(setting string) string {
	if setting == "std" {
		return "Go's image/jpeg (jpeg_decoder std)"
	}
	lib, err := turbojpeg.Open(os.Getenv(onnx.TurboJPEGEnv))
	switch {
	case err == nil:
		return "libjpeg-turbo " + lib.Path()
	case setting == "turbo":
		return "libjpeg-turbo, which does not load: " + err.Error()
	}
	return "Go's image/jpeg (libjpeg-turbo does not load: " + err.Error() + ")"
}

// cpuName is the processor's model name on Linux, else the architecture.
func cpuName() string {
	f, err := os.Open("/proc/cpuinfo")
	if err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}
