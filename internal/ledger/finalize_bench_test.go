package ledger

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
)

// BenchmarkFinalizeMinIO writes the final file of a job whose mini-batches'
// rows are objects on a real MinIO, reading one batch at a time (window=1,
// as finalisation did) and 32 ahead (the default), against reading the
// rows objects alone 32 at a time (store_reads: what the store allows). The
// job has 2,000 batches, or PRS_FINAL_BENCH_BATCHES. batches/s is the
// figure to compare. final_64MiB streams a final file of 64 MiB to the
// store (MB/s, and B/op: memory does not grow with the file).
// inline_rows/window=32 is the default for small rows: each batch's rows in
// its outcome record, so no rows object is read.
func BenchmarkFinalizeMinIO(b *testing.B) {
	total := int64(2000)
	if s := os.Getenv("PRS_FINAL_BENCH_BATCHES"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			b.Fatalf("PRS_FINAL_BENCH_BATCHES=%q: want a positive whole number", s)
		}
		total = n
	}
	srv := miniotest.Start(b)
	transport := http.DefaultTransport.(*http.Transport).Clone()
	b.Cleanup(transport.CloseIdleConnections)
	l := newLedger(b)
	l.Stores.Options = objstore.Options{S3Endpoint: srv.Endpoint(), AccessKey: srv.AccessKey(), SecretKey: srv.SecretKey(),
		HTTPClient: &http.Client{Transport: transport}}
	out := "s3://" + srv.NewBucket(b) + "/out"
	job := addJob(b, l, "bench", total, out)
	job.Staging = out + "/.prs/bench"
	stageBatches(b, l, job, total, false)
	// The store alone: every rows object read, 32 at a time, and nothing
	// else; finalisation cannot beat it.
	b.Run("store_reads", func(b *testing.B) {
		staging, err := l.Stores.Open(b.Context(), job.Staging)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			err := inOrder(b.Context(), total, defaultFinalWindow, func(ctx context.Context, i int64) ([]byte, error) {
				rc, err := staging.Get(ctx, contracts.ResultKey(i, 1, "w"))
				if err != nil {
					return nil, err
				}
				defer rc.Close()
				return io.ReadAll(rc)
			}, func(int64, []byte) error { return nil }, func([]byte) {})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	})
	for _, window := range []int{1, defaultFinalWindow} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			l.FinalWindow = window
			for b.Loop() {
				if _, err := l.writeFinal(b.Context(), job, total); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
	// The same rows held in the outcome records (inline_rows_max, the
	// default for small rows): finalisation reads no rows object at all.
	inline := addJob(b, l, "bench-inline", total, out+"-inline")
	inline.Staging = out + "-inline/.prs/bench-inline"
	stageBatches(b, l, inline, total, true)
	b.Run(fmt.Sprintf("inline_rows/window=%d", defaultFinalWindow), func(b *testing.B) {
		l.FinalWindow = defaultFinalWindow
		for b.Loop() {
			if _, err := l.writeFinal(b.Context(), inline, total); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "batches/s")
	})
	// A final file of 64 MiB (64 batches of 1 MiB), streamed to the store
	// in parts while the rows are read: MB/s and the bytes allocated.
	big := addJob(b, l, "bench-big", 64, out+"-big")
	big.Staging = out + "-big/.prs/bench-big"
	stageBigBatches(b, l, big, 64, 1<<20)
	b.Run("final_64MiB", func(b *testing.B) {
		l.FinalWindow = defaultFinalWindow
		b.SetBytes(64 << 20)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.writeFinal(b.Context(), big, 64); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// stageBigBatches puts a rows object of size bytes (lines of 1 KiB) for
// each of total batches and records their outcomes.
func stageBigBatches(b *testing.B, l *Ledger, job *contracts.Job, total int64, size int) {
	ctx := context.Background()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		b.Fatal(err)
	}
	line := strings.Repeat("r", 1023) + "\n"
	body := strings.Repeat(line, size/len(line))
	for i := range total {
		key := contracts.ResultKey(i, 1, "w")
		if err := staging.Put(ctx, key, strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := l.Record(ctx, job.ID, contracts.BatchOutcome{Index: i, Attempt: 1, OK: true, Items: 1, Succeeded: 1, ResultKey: key}); err != nil {
			b.Fatal(err)
		}
	}
}

// stageBatches records an outcome with one line of rows for each of total
// batches, 32 at a time: the rows in the outcome when inline, else in an
// object it names.
func stageBatches(b *testing.B, l *Ledger, job *contracts.Job, total int64, inline bool) {
	ctx := context.Background()
	staging, err := l.Stores.Open(ctx, job.Staging)
	if err != nil {
		b.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	sem := make(chan struct{}, 32)
	for i := range total {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			rows := fmt.Sprintf("item-%d.png: %d\n", i, i%10)
			o := contracts.BatchOutcome{Index: i, Attempt: 1, OK: true, Items: 1, Succeeded: 1, Rows: []byte(rows)}
			var err error
			if !inline {
				o.ResultKey, o.Rows = contracts.ResultKey(i, 1, "w"), nil
				err = staging.Put(ctx, o.ResultKey, stringsReader(rows))
			}
			if err == nil {
				_, _, err = l.Record(ctx, job.ID, o)
			}
			if err != nil {
				once.Do(func() { first = err })
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}
