package main

import (
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
)

const benchUsage = `Usage: prs bench onnx --model PATH [flags]

Generates N JPEG images and reports, in one run, the model's own speed on
pre-built tensors (raw), the whole pipeline's (prs run's machinery in this
process: embedded JetStream, producer, worker, rows), their ratio, and the
decoding rate. Flags:
`

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
