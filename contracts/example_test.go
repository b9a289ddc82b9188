package contracts_test

import (
	"errors"
	"fmt"

	"github.com/parallelrun/prs/contracts"
)

// A job's configuration starts from ParallelRunStep's defaults; Validate
// names the key of the first problem, as a *FieldError.
func ExampleConfig_Validate() {
	c := contracts.DefaultConfig()
	c.EntryScript, c.Input, c.Output = "score.py", "s3://bucket/in", "s3://bucket/out"
	fmt.Println(c.Validate(), c.RunMaxTry, c.AppendRowFileName)

	c.RunMaxTry = 0
	err := c.Validate()
	var fe *contracts.FieldError
	fmt.Println(errors.As(err, &fe), fe.Field, errors.Is(err, contracts.ErrInvalid))
	// Output:
	// <nil> 3 parallel_run_step.txt
	// true run_max_try true
}

// mini_batch_size is a number of files for a file input, a size for a
// tabular one.
func ExampleConfig_FilesPerBatch() {
	c := contracts.DefaultConfig()
	c.MiniBatchSize = "25"
	n, err := c.FilesPerBatch()
	fmt.Println(n, err)
	c.MiniBatchSize = "10MB"
	b, err := c.BytesPerBatch()
	fmt.Println(b, err)
	// Output:
	// 25 <nil>
	// 10485760 <nil>
}

// A mini-batch message carries references, never data; a tabular one
// counts its piece's rows.
func ExampleMiniBatch_ItemCount() {
	files := contracts.MiniBatch{JobID: "job-1", Index: 7, Items: []contracts.Item{{Key: "a.png"}, {Key: "b.png"}}}
	piece := contracts.MiniBatch{JobID: "job-1", Index: 8, Items: []contracts.Item{{Key: "t.csv"}},
		Piece: &contracts.Piece{Key: "t.csv", Format: contracts.TableFormat("csv"), Rows: 500}}
	fmt.Println(files.ItemCount(), piece.ItemCount(), files.MsgID(0), files.MsgID(1))
	// Output:
	// 2 500 job-1.7.0 job-1.7.1
}

// Producers and workers share the names of subjects and KV keys.
func ExampleOutcomeKey() {
	fmt.Println(contracts.BatchSubject("job-1"))
	fmt.Println(contracts.OutcomeKey("job-1", 7))
	fmt.Println(contracts.DeliveriesKey("job-1", 7))
	fmt.Println(contracts.ResultKey(1234, 2, "w1"))
	// Output:
	// prs.batch.job-1
	// job.job-1.batch.7
	// job.job-1.deliveries.7
	// results/0000001/0000001234-2-w1.jsonl
}

// A batch's tries add up across the publishing generations of a resumed
// job, less the deliveries handed back.
func ExampleBatchDeliveries_Total() {
	d := contracts.BatchDeliveries{Delivered: map[int]int{0: 2, 1: 1}, HandedBack: 1}
	fmt.Println(d.Total(), d.Total()-d.HandedBack)
	// Output:
	// 3 2
}
