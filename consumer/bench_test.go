package consumer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/producer"
)

// benchBatches is the size of one benchmark op: a job of this many
// mini-batches of one file each.
const benchBatches = 200

// noop is the benchmarks' handler: it does no work and returns one row per
// path (the file's base name as a JSON string), so that the runtime writes
// rows and assembles the final file.
var noop = consumer.HandlerFunc(func(_ context.Context, bt *consumer.Batch) (consumer.Result, error) {
	rows := make([]json.RawMessage, len(bt.Paths))
	for i, p := range bt.Paths {
		j, err := json.Marshal(filepath.Base(p))
		if err != nil {
			return consumer.Result{}, err
		}
		rows[i] = j
	}
	return consumer.Result{Rows: rows}, nil
})

// pipeline runs jobs through the real path: producer.Submit into the
// embedded JetStream server, a Worker with the no-op handler, rows and the
// final file in the local store.
type pipeline struct {
	b *bundle
	c contracts.Config
	n int // mini-batches per job
}

func newPipeline(tb testing.TB, slots int) *pipeline {
	return newPipelineOf(tb, slots, benchBatches)
}

// newPipelineOf makes a pipeline whose jobs have n mini-batches.
func newPipelineOf(tb testing.TB, slots, n int) *pipeline {
	tb.Helper()
	bn := newBundle(tb, n)
	bn.worker(slots, noop)
	return &pipeline{b: bn, c: bn.config(1), n: n}
}

// job submits one job and waits until it ends, on a watch of its state key
// rather than a poll, so that the wait adds no latency to the figure. Each
// job writes to an output folder of its own: a job into the output of the
// one before waits for that job's workers to release it (up to 15s, after
// their last writes to its logs), which is not the pipeline's pace.
func (p *pipeline) job(tb testing.TB) {
	tb.Helper()
	p.b.output = filepath.Join(tb.TempDir(), "out")
	p.c.Output = p.b.output
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // a job of PRS_PIPE_BENCH_BATCHES may be long
	defer cancel()
	id := producer.NewJobID()
	w, err := p.b.h.Jobs.Watch(ctx, contracts.StateKey(id))
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	sub, err := p.b.prod.Submit(ctx, id, p.c)
	if err != nil {
		tb.Fatal(err)
	}
	if sub.Resumed {
		tb.Fatalf("job id %s was already used", id)
	}
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				tb.Fatalf("job %s: the state watch closed", id)
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st contracts.JobState
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				tb.Fatalf("job %s: state: %v", id, err)
			}
			if !st.Terminal() {
				continue
			}
			if st.State != contracts.StateCompleted {
				tb.Fatalf("job %s ended %s: %s", id, st.State, st.Reason)
			}
			return
		case <-ctx.Done():
			tb.Fatalf("job %s did not end: %v", id, ctx.Err())
		}
	}
}

// check verifies the last job's final file.
func (p *pipeline) check(tb testing.TB) {
	tb.Helper()
	rows := p.b.rows(p.c.AppendRowFileName)
	if len(rows) != p.n || rows[0] != "f00000.txt" || rows[p.n-1] != fmt.Sprintf("f%05d.txt", p.n-1) {
		tb.Fatalf("final file has %d rows (%q ... %q), want %d in order", len(rows), rows[0], rows[len(rows)-1], p.n)
	}
}

// direct calls the same handler in a loop over the same mini-batches (one
// file each, in listing order) and writes the same rows, with no broker, no
// ledger and no worker.
type direct struct {
	batches []consumer.Batch
	h       consumer.Handler
	out     string         // folder of the rows file
	store   objstore.Store // when set, rows go to it one object per batch
	body    *bytes.Reader  // reused for store puts
}

func newDirect(tb testing.TB, input string, store bool) *direct {
	tb.Helper()
	ents, err := os.ReadDir(input) // sorted by name, as the local store lists
	if err != nil {
		tb.Fatal(err)
	}
	d := &direct{h: noop, out: tb.TempDir(), body: bytes.NewReader(nil)}
	for i, e := range ents {
		fi, err := e.Info()
		if err != nil {
			tb.Fatal(err)
		}
		d.batches = append(d.batches, consumer.Batch{
			JobID: "direct", Index: int64(i), Attempt: 1,
			Items: []contracts.Item{{Key: e.Name(), Size: fi.Size()}},
			Paths: []string{filepath.Join(input, e.Name())},
		})
	}
	if len(d.batches) != benchBatches {
		tb.Fatalf("%d input files, want %d", len(d.batches), benchBatches)
	}
	if store {
		if d.store, err = objstore.Open(context.Background(), d.out, objstore.Options{}); err != nil {
			tb.Fatal(err)
		}
	}
	return d
}

// run runs every batch once: Init, Run, FormatRows, then a write to one
// local file (or, with a store, one Put per batch, as the worker does).
func (d *direct) run(tb testing.TB) {
	ctx := context.Background()
	var f *os.File
	if d.store == nil {
		var err error
		if f, err = os.Create(filepath.Join(d.out, "parallel_run_step.txt")); err != nil {
			tb.Fatal(err)
		}
		defer f.Close()
	}
	for i := range d.batches {
		bt := d.batches[i] // a fresh Batch per attempt, as the runtime makes
		if err := d.h.Init(ctx); err != nil {
			tb.Fatal(err)
		}
		res, err := d.h.Run(ctx, &bt)
		if err != nil || len(res.Rows) != len(bt.Paths) {
			tb.Fatalf("batch %d: %d rows, %v", i, len(res.Rows), err)
		}
		data := consumer.FormatRows(res.Rows)
		if d.store != nil {
			d.body.Reset(data)
			if err := d.store.Put(ctx, fmt.Sprintf("rows/%06d", i), d.body); err != nil {
				tb.Fatal(err)
			}
		} else if _, err := f.Write(data); err != nil {
			tb.Fatal(err)
		}
	}
	if f != nil {
		if err := f.Close(); err != nil {
			tb.Fatal(err)
		}
	}
}

func reportBatches(b *testing.B, name string, batches int, d time.Duration) {
	b.ReportMetric(float64(batches)/d.Seconds(), name)
}

// BenchmarkPipeline measures mini-batches per second through JetStream and
// the local store: one op is one whole job of benchBatches mini-batches of
// one file, from Submit to the Completed state, with a no-op handler.
func BenchmarkPipeline(b *testing.B) {
	for _, slots := range []int{1, 4} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			p := newPipeline(b, slots)
			p.job(b) // warm up: connections, consumer, first handler
			for b.Loop() {
				p.job(b)
			}
			n := b.N * benchBatches
			reportBatches(b, "batches/s", n, b.Elapsed())
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/batch")
			p.check(b)
		})
	}
}

// BenchmarkDirectLoop is the baseline: the same handler called directly over
// the same mini-batches, with the same row formatting, written to one local
// file ("file"), or put one object per batch into the local store as the
// worker does ("store": each put fsyncs the file and its folder).
func BenchmarkDirectLoop(b *testing.B) {
	for _, store := range []bool{false, true} {
		name := "file"
		if store {
			name = "store"
		}
		b.Run(name, func(b *testing.B) {
			d := newDirect(b, inputFolder(b), store)
			for b.Loop() {
				d.run(b)
			}
			n := b.N * benchBatches
			reportBatches(b, "batches/s", n, b.Elapsed())
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/batch")
		})
	}
}

// BenchmarkPipelineVsDirect runs a pipeline job and a direct loop over the
// same mini-batches in each op, and reports both rates and how many times
// slower the pipeline is (overhead_x = direct_batches/s / pipeline_batches/s).
func BenchmarkPipelineVsDirect(b *testing.B) {
	for _, slots := range []int{1, 4} {
		b.Run(fmt.Sprintf("slots=%d", slots), func(b *testing.B) {
			p := newPipeline(b, slots)
			d := newDirect(b, p.b.input, false)
			p.job(b)
			d.run(b)
			var pipe, dir time.Duration
			for b.Loop() {
				t0 := time.Now()
				p.job(b)
				t1 := time.Now()
				d.run(b)
				pipe += t1.Sub(t0)
				dir += time.Since(t1)
			}
			n := b.N * benchBatches
			reportBatches(b, "pipeline_batches/s", n, pipe)
			reportBatches(b, "direct_batches/s", n, dir)
			b.ReportMetric(pipe.Seconds()/dir.Seconds(), "overhead_x")
			p.check(b)
		})
	}
}

// inputFolder creates benchBatches input files named as newBundle names them.
func inputFolder(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	for i := 0; i < benchBatches; i++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), []byte(fmt.Sprint(i)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}
