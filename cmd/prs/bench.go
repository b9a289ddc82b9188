package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/parallelrun/prs/cmd/prs/internal/bench"
	"github.com/parallelrun/prs/contracts"
)

const benchUsage = `Usage: prs bench onnx --model PATH [flags]

Generates N JPEG images and reports, in one run, the model's own speed on
pre-built tensors (raw), the whole pipeline's (prs run's machinery in this
process: embedded JetStream, producer, worker, rows), their ratio, and the
decoding rate. Flags:
`

// benchCUDAKeys are the onnx.cuda settings that prs bench onnx takes as
// --cuda-* flags.
var benchCUDAKeys = []string{"prefer_nhwc", "cudnn_conv_algo_search", "arena_extend_strategy", "gpu_mem_limit"}

// cmdBench is prs bench onnx: flags to bench.Config, the report to stdout.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "onnx" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, strings.TrimSuffix(benchUsage, " Flags:\n")+"\n")
			return exitOK
		}
		return fail(stderr, exitUsage, "bench takes a kind of benchmark: prs bench onnx --model PATH (see prs bench onnx -h)")
	}
	def := bench.DefaultConfig()
	fs := flag.NewFlagSet("prs bench onnx", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	c := def
	fs.StringVar(&c.Model, "model", "", "the .onnx model: one float32 input [N,3,H,W] (required)")
	fs.IntVar(&c.Images, "images", def.Images, "JPEG images to generate and score in each stage")
	fs.IntVar(&c.Size, "size", def.Size, "image height and width in pixels")
	fs.IntVar(&c.ModelBatchSize, "model-batch-size", def.ModelBatchSize, "onnx.model_batch_size: items per ONNX Runtime run")
	fs.IntVar(&c.MiniBatchSize, "mini-batch-size", def.MiniBatchSize, "mini_batch_size of the pipeline's job")
	fs.IntVar(&c.Slots, "slots", def.Slots, "worker slots of the pipeline")
	fs.StringVar(&c.ExecutionProvider, "execution-provider", def.ExecutionProvider, "cpu or cuda")
	devices := fs.String("device-ids", "0", "onnx.device_ids, comma-separated; the raw stage uses the first")
	fs.IntVar(&c.IntraOpThreads, "intra-op-threads", 0, "onnx.intra_op_threads (0: ONNX Runtime's default)")
	imageSize := fs.String("image-size", "", "the JPEG files' WIDTHxHEIGHT, such as 500x375 (default size x size; another size needs --resize-to)")
	fs.IntVar(&c.ResizeTo, "resize-to", 0, "onnx.preprocess.resize shorter_side: the shorter side's size before the centre crop of size x size, such as 256 (0: resize none)")
	fs.StringVar(&c.JPEGDecoder, "jpeg-decoder", "", "onnx.preprocess.jpeg_decoder: auto, std or turbo (default auto)")
	fs.BoolVar(&c.IOBinding, "io-binding", false, "onnx.io_binding of the handler and pipeline stages")
	cudaFlags := map[string]*string{}
	for _, k := range benchCUDAKeys {
		cudaFlags[k] = fs.String("cuda-"+strings.ReplaceAll(k, "_", "-"), "", "onnx.cuda."+k+" (execution-provider cuda)")
	}
	fs.StringVar(&c.Library, "library", "", "the ONNX Runtime library (default $PRS_ORT_LIB, then lib/libonnxruntime.so.1)")
	fs.StringVar(&c.WorkDir, "work-dir", "", "folder for the benchmark's own folder of images, JetStream files and output (default the system's temporary folder)")
	fs.BoolVar(&c.Keep, "keep", false, "keep the benchmark's folder")
	jsonOut := fs.String("json", "", "also write the figures as JSON to this file")
	logLevel := fs.String("log-level", "WARNING", "log level of the runtime and the handler: DEBUG, INFO, WARNING")
	rest, code, ok := parse(fs, args[1:], stderr)
	if !ok {
		return code
	}
	if len(rest) > 0 {
		return fail(stderr, exitUsage, "bench onnx: unexpected arguments %q", rest)
	}
	c.DeviceIDs = nil
	for _, s := range strings.Split(*devices, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fail(stderr, exitUsage, "bench onnx: --device-ids must be comma-separated integers, got %q", *devices)
		}
		c.DeviceIDs = append(c.DeviceIDs, d)
	}
	if err := benchOptions(&c, *imageSize, benchCUDAKeys, cudaFlags); err != nil {
		return fail(stderr, exitUsage, "bench onnx: %v", err)
	}
	lv := slog.LevelWarn
	if err := lv.UnmarshalText([]byte(strings.TrimSuffix(strings.ToUpper(*logLevel), "ING"))); err != nil {
		return fail(stderr, exitUsage, "bench onnx: --log-level must be DEBUG, INFO or WARNING, got %q", *logLevel)
	}
	c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))
	c.Progress = stderr

	r, err := bench.Run(ctx, c)
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(stderr, "prs: bench interrupted")
		return exitInterrupt
	case errors.Is(err, bench.ErrInvalid), errors.Is(err, bench.ErrModel):
		return fail(stderr, exitUsage, "bench onnx: %v", err)
	case err != nil:
		return fail(stderr, exitJobFailed, "bench onnx: %v", err)
	}
	r.Print(stdout)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fail(stderr, exitJobFailed, "bench onnx: %v", err)
		}
	}
	return exitOK
}

// benchOptions sets c's image size (WIDTHxHEIGHT) and onnx.cuda options
// from their flags, read as the job's settings are.
func benchOptions(c *bench.Config, imageSize string, cudaKeys []string, cudaFlags map[string]*string) error {
	if imageSize != "" {
		w, h, ok := strings.Cut(imageSize, "x")
		var err error
		if ok {
			if c.ImageWidth, err = strconv.Atoi(w); err == nil {
				c.ImageHeight, err = strconv.Atoi(h)
			}
		}
		if !ok || err != nil {
			return fmt.Errorf("--image-size must be WIDTHxHEIGHT, such as 500x375, got %q", imageSize)
		}
	}
	for _, k := range cudaKeys {
		if *cudaFlags[k] == "" {
			continue
		}
		job := contracts.Config{ONNX: &contracts.ONNXConfig{}}
		s, _ := contracts.LookupSetting("onnx.cuda." + k)
		err := s.Set(&job, *cudaFlags[k])
		if err == nil {
			err = s.Check(&job)
		}
		if err != nil {
			return fmt.Errorf("--cuda-%s: %w", strings.ReplaceAll(k, "_", "-"), err)
		}
		o, in := &c.CUDA, job.ONNX.CUDA
		o.PreferNHWC = o.PreferNHWC || in.PreferNHWC
		o.CuDNNConvAlgoSearch = cmp.Or(in.CuDNNConvAlgoSearch, o.CuDNNConvAlgoSearch)
		o.ArenaExtendStrategy = cmp.Or(in.ArenaExtendStrategy, o.ArenaExtendStrategy)
		o.GPUMemLimit = cmp.Or(in.GPUMemLimit, o.GPUMemLimit)
	}
	return nil
}
