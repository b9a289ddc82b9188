package ledger

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/broker/brokertest"
)

// BenchmarkJobStorage runs PRS_BENCH_JOBS small jobs (default 20; the
// figures of README's "What a finished job leaves" are of 1000) of 4
// one-item mini-batches through the ledger, each into its own output
// folder, as workers record and finalise them, and reports what stays:
// the bytes and messages of the jobs bucket's stream and of the counters
// stream, and the objects (and folders) under the outputs. keep keeps the
// staging (keep_staging: true) and sweeps nothing, as prs did before;
// clean removes the staging at each job's end, inside the retention;
// expire also runs the sweep with a retention of 2s once the last job is
// 2s old.
func BenchmarkJobStorage(b *testing.B) {
	jobs := 20
	if v, err := strconv.Atoi(os.Getenv("PRS_BENCH_JOBS")); err == nil && v > 0 {
		jobs = v
	}
	for _, mode := range []string{"keep", "clean", "expire"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				_, h := brokertest.Start(b, broker.SetupConfig{})
				l := New(h, &Stores{}, "w1", discardLog())
				root := b.TempDir()
				b.StartTimer()
				runSmallJobs(b, l, root, jobs, mode == "keep")
				if mode == "expire" {
					time.Sleep(2 * time.Second) // the retention's own length, not a wait for an event
					if _, err := l.Sweep(context.Background(), 2*time.Second); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				reportStorage(b, l, root)
			}
		})
	}
}

// runSmallJobs records n jobs of 4 one-item mini-batches each, with each
// delivery noted, their rows staged, counted and finalised.
func runSmallJobs(b *testing.B, l *Ledger, root string, n int, keep bool) {
	ctx := context.Background()
	for j := range n {
		c := contracts.DefaultConfig()
		c.Output, c.KeepStaging = filepath.Join(root, fmt.Sprintf("out%04d", j)), keep
		id := fmt.Sprintf("job%04d", j)
		job := &contracts.Job{ID: id, Config: c, Staging: filepath.Join(c.Output, ".prs", id)}
		if err := l.CreateJob(ctx, job, 4, 4); err != nil {
			b.Fatal(err)
		}
		staging, err := l.Stores.Open(ctx, job.Staging)
		if err != nil {
			b.Fatal(err)
		}
		for i := range int64(4) {
			// A worker notes each delivery before the attempt.
			if _, err := l.Delivered(ctx, id, i, 0, 1); err != nil {
				b.Fatal(err)
			}
			key := contracts.ResultKey(i, 1, "w1")
			if err := staging.Put(ctx, key, stringsReader(fmt.Sprintf("file-%d.txt: %d\n", i, i))); err != nil {
				b.Fatal(err)
			}
			o, rev, err := l.Record(ctx, id, contracts.BatchOutcome{Index: i, Attempt: 1, Items: 1, Succeeded: 1, OK: true, ResultKey: key, Worker: "w1"})
			if err != nil {
				b.Fatal(err)
			}
			done, err := l.Count(ctx, job, o, rev)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.MaybeFinalize(ctx, job, done, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// reportStorage reports the streams' bytes and messages and the objects
// and folders under root.
func reportStorage(b *testing.B, l *Ledger, root string) {
	ctx := context.Background()
	kv, err := l.B.JS.Stream(ctx, "KV_"+contracts.JobBucket)
	if err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name string
		info func() (uint64, uint64, error)
	}{
		{"kv", func() (uint64, uint64, error) {
			i, err := kv.Info(ctx)
			if err != nil {
				return 0, 0, err
			}
			return i.State.Bytes, i.State.Msgs, nil
		}},
		{"counters", func() (uint64, uint64, error) {
			i, err := l.B.Counters.Info(ctx)
			if err != nil {
				return 0, 0, err
			}
			return i.State.Bytes, i.State.Msgs, nil
		}},
	} {
		bytes, msgs, err := s.info()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(bytes), s.name+"_bytes")
		b.ReportMetric(float64(msgs), s.name+"_msgs")
	}
	objects, folders := 0, 0
	_ = filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			folders++
		} else if err == nil {
			objects++
		}
		return nil
	})
	b.ReportMetric(float64(objects), "objects")
	b.ReportMetric(float64(folders), "folders")
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
