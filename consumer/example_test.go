package consumer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/parallelrun/prs/consumer"
)

// A stateless handler is a HandlerFunc: here, one row per file, except
// the files it cannot score.
func ExampleHandlerFunc() {
	h := consumer.HandlerFunc(func(ctx context.Context, b *consumer.Batch) (consumer.Result, error) {
		var r consumer.Result
		for i, p := range b.Paths {
			if filepath.Ext(p) != ".png" {
				r.ItemErrors = append(r.ItemErrors, consumer.ItemError{Index: i, Err: "not a PNG"})
				continue
			}
			row, _ := json.Marshal(filepath.Base(p) + ": ok")
			r.Rows = append(r.Rows, row)
		}
		return r, nil
	})
	res, err := h.Run(context.Background(), &consumer.Batch{JobID: "job-1", Index: 0, Attempt: 1,
		Paths: []string{"/in/a.png", "/in/b.txt", "/in/c.png"}})
	fmt.Println(err, len(res.Rows), string(res.Rows[1]), res.ItemErrors[0].Index, res.ItemErrors[0].Err)
	// Output:
	// <nil> 2 "c.png: ok" 1 not a PNG
}

// Tally is the one rule of succeeded and failed items, for a worker and
// for prs debug: a row per item succeeds, a missing row fails an item,
// extra rows are kept but count as nothing.
func ExampleTally() {
	for _, t := range []consumer.Tally{
		{Items: 5, Rows: 5},
		{Items: 5, Rows: 3},
		{Items: 5, Rows: 7},
		{Items: 6, Malformed: 2, Rows: 4},
	} {
		typ, _ := t.Note()
		fmt.Printf("%d succeeded, %d failed %q\n", t.Succeeded(), t.Failed(), typ)
	}
	// Output:
	// 5 succeeded, 0 failed ""
	// 3 succeeded, 2 failed "PartialResult"
	// 5 succeeded, 0 failed "ExtraRows"
	// 4 succeeded, 2 failed ""
}
