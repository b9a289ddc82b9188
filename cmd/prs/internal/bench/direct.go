package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/onnx"
	"github.com/parallelrun/prs/contracts"
)

// runDirect times the handler of a job with cfg called directly, as one
// slot would call it, over paths in mini-batches of c.MiniBatchSize: no
// broker, no rows written. The first mini-batch runs once before the clock
// starts. Stage.Start is the handler's Init (its session opening) plus that
// warm-up.
func runDirect(ctx context.Context, c *Config, cfg *contracts.ONNXConfig, paths []string) (Stage, error) {
	var st Stage
	job := &contracts.Job{ID: "bench-direct", Config: contracts.DefaultConfig()}
	job.Config.Handler = contracts.HandlerONNX
	job.Config.ONNX = cfg
	env := &consumer.JobEnv{Job: job, Model: cfg.Model, Worker: "bench", Slot: 0}
	start := time.Now()
	h, err := onnx.New(env, onnx.Options{Library: cfg.Library, Logger: c.Logger})
	if err != nil {
		return st, err
	}
	defer func() { _ = h.Close() }()
	if err := h.Init(ctx); err != nil {
		return st, err
	}
	batches := miniBatches(paths, c.MiniBatchSize)
	if err := runBatch(ctx, h, batches[0]); err != nil {
		return st, err
	}
	st.Start = time.Since(start).Seconds()
	t0 := time.Now()
	for i := range batches {
		if err := runBatch(ctx, h, batches[i]); err != nil {
			return st, err
		}
	}
	st.set(len(paths), time.Since(t0))
	return st, nil
}

// miniBatches splits paths into batches of size as the producer would.
func miniBatches(paths []string, size int) []consumer.Batch {
	var out []consumer.Batch
	for lo := 0; lo < len(paths); lo += size {
		hi := min(lo+size, len(paths))
		b := consumer.Batch{JobID: "bench-direct", Index: int64(len(out)), Attempt: 1, Paths: paths[lo:hi]}
		for _, p := range b.Paths {
			b.Items = append(b.Items, contracts.Item{Key: filepath.Base(p)})
		}
		out = append(out, b)
	}
	return out
}

// runBatch runs one mini-batch (a copy: the runtime makes a fresh Batch per
// attempt) and insists on a row for each item.
func runBatch(ctx context.Context, h consumer.Handler, b consumer.Batch) error {
	res, err := h.Run(ctx, &b)
	if err != nil {
		return fmt.Errorf("mini-batch %d: %w", b.Index, err)
	}
	if len(res.ItemErrors) > 0 {
		ie := res.ItemErrors[0]
		return fmt.Errorf("mini-batch %d: %d items failed; first %s: %s", b.Index, len(res.ItemErrors), b.Items[ie.Index].Key, ie.Err)
	}
	if len(res.Rows) != len(b.Paths) {
		return fmt.Errorf("mini-batch %d: %d rows for %d items", b.Index, len(res.Rows), len(b.Paths))
	}
	return nil
}
