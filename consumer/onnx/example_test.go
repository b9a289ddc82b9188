package onnx_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/contracts"
)

// A slot's handler for the digits example, as the worker runtime builds it:
// Init opens the session, Run scores a mini-batch; a file that is missing
// fails alone.
func Example() {
	lib := os.Getenv(onnx.LibraryEnv)
	if lib == "" {
		lib = "../../lib/libonnxruntime.so.1" // `go tool task ort` installs it
	}
	job := &contracts.Job{ID: "digits", Config: contracts.DefaultConfig()}
	job.Config.Handler = contracts.HandlerONNX
	job.Config.ONNX = &contracts.ONNXConfig{
		Model:      "../../examples/digits/model.onnx",
		Preprocess: contracts.Preprocess{Mode: "grayscale", Size: []int{8, 8}},
	}
	env := &consumer.JobEnv{
		Job:    job,
		Model:  "../../examples/digits/model.onnx",
		Labels: "../../examples/digits/labels.txt",
	}
	h, err := onnx.New(env, onnx.Options{Library: lib, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	ctx := context.Background()
	if err := h.Init(ctx); err != nil {
		fmt.Println(err)
		return
	}
	res, err := h.Run(ctx, &consumer.Batch{JobID: "digits", Paths: []string{
		"../../examples/digits/images/digit-0021.png",
		"../../examples/digits/images/digit-9999.png",
		"../../examples/digits/images/digit-0024.png",
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(consumer.FormatRows(res.Rows)))
	for _, ie := range res.ItemErrors {
		fmt.Printf("item %d failed: %s\n", ie.Index, ie.Err)
	}
	// Output:
	// digit-0021.png: 1
	// digit-0024.png: 4
	// item 1 failed: open ../../examples/digits/images/digit-9999.png: no such file or directory
}
