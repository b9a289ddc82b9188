package onnx_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

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

// A handler for the rows of a table (preprocess kind tabular): each row's
// 64 pixel columns fill the model input [N,1,8,8], and the id column names
// the row; a row whose value is not a number fails alone.
func Example_tabular() {
	lib := os.Getenv(onnx.LibraryEnv)
	if lib == "" {
		lib = "../../lib/libonnxruntime.so.1"
	}
	var columns []string
	for i := range 64 {
		columns = append(columns, fmt.Sprintf("p%d", i))
	}
	job := &contracts.Job{ID: "digits-tabular", Config: contracts.DefaultConfig()}
	job.Config.Handler, job.Config.Input = contracts.HandlerONNX, "examples/digits/digits.csv"
	job.Config.ONNX = &contracts.ONNXConfig{
		Model:      "../../examples/digits/model.onnx",
		Preprocess: contracts.Preprocess{Kind: "tabular", Columns: columns, IDColumn: "file"},
	}
	env := &consumer.JobEnv{Job: job, Model: "../../examples/digits/model.onnx", Labels: "../../examples/digits/labels.txt"}
	h, err := onnx.New(env, onnx.Options{Library: lib, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()

	// Three rows of digits.csv, as the runtime hands a CSV piece over: the
	// header and the records. The second row's p0 is not a number.
	src, err := os.ReadFile("../../examples/digits/digits.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	lines := strings.SplitN(string(src), "\n", 5)[:4]
	lines[2] = strings.Replace(lines[2], ",0,", ",zero,", 1)
	table := &consumer.Table{Format: "csv", CSV: []byte(strings.Join(lines, "\n") + "\n"), Rows: 3}
	res, err := h.Run(context.Background(), &consumer.Batch{
		JobID: "digits-tabular", Items: []contracts.Item{{Key: "digits.csv"}}, Table: table,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(consumer.FormatRows(res.Rows)))
	for _, ie := range res.ItemErrors {
		fmt.Printf("%s failed: %s\n", ie.Item, ie.Err)
	}
	// Output:
	// digit-0021.png: 1
	// digit-0028.png: 8
	// digits.csv: digit-0024.png (row 2 of the mini-batch) failed: column "p0": "zero" is not a number
}
