package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/watch"
)

// BenchmarkWatchLatency measures, for prs watch on MinIO's bucket
// notifications, the time from an object's PUT (its answer) to its row
// being in its window's output (the window's job completed, its final file
// written), with a no-op script and a 1-second window, at 10 and at 200
// objects a second for 10 seconds. It reports p50_s, p95_s and max_s.
// Run it alone: go test -run XXX -bench WatchLatency -benchtime 1x ./integration/
func BenchmarkWatchLatency(b *testing.B) {
	for _, rate := range []int{10, 200} {
		b.Run(fmt.Sprintf("%d_per_s", rate), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				lat := watchLatency(b, rate, 10*time.Second)
				b.ReportMetric(quantile(lat, 0.50).Seconds(), "p50_s")
				b.ReportMetric(quantile(lat, 0.95).Seconds(), "p95_s")
				b.ReportMetric(quantile(lat, 1).Seconds(), "max_s")
			}
		})
	}
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// watchLatency uploads rate objects a second for dur and returns each
// object's latency.
func watchLatency(b *testing.B, rate int, dur time.Duration) []time.Duration {
	b.StopTimer()
	port := freePort(b)
	m := miniotest.StartEnv(b,
		"MINIO_NOTIFY_NATS_ENABLE_PRS=on",
		fmt.Sprintf("MINIO_NOTIFY_NATS_ADDRESS_PRS=127.0.0.1:%d", port),
		"MINIO_NOTIFY_NATS_SUBJECT_PRS=prs.events.w",
		"MINIO_NOTIFY_NATS_JETSTREAM_PRS=on",
		"MINIO_NOTIFY_NATS_QUEUE_DIR_PRS="+b.TempDir(),
	)
	h := newHarnessOnPort(b, m, port)
	h.worker(4)
	s := newS3WatchStore(h)
	s.put("README", "")
	p := startWatch(b, h.env(), "--input", h.s3("in"), "--output", h.s3("out"), "--include", "*.txt",
		"--source", "events", "--setup", "--setup-arn", "arn:minio:sqs::PRS:nats",
		"--entry-script", "testdata/noop.py", "--window-files", "100000", "--mini-batch-size", "20", "--log-level", "INFO")
	waitFor(b, 30*time.Second, "prs watch to lead", func() bool { return strings.Contains(p.logText(), "leading the new watch") })

	n := rate * int(dur/time.Second)
	put := make([]time.Time, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				s.put(fmt.Sprintf("o%05d.txt", i), "x")
				put[i] = time.Now()
			}
		}()
	}
	b.StartTimer()
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	// On a small machine the PUTs may not keep the rate: the rate reached
	// is logged.
	b.Logf("%d objects put in %s (%.0f/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())

	// Each window's rows landed when its job completed.
	ctx := context.Background()
	kv, err := h.h.JS.KeyValue(ctx, contracts.WatchBucket)
	if err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	windows := 0
	waitFor(b, 5*time.Minute, "every object's row", func() bool {
		wins, err := watch.Windows(ctx, kv, "w")
		if err != nil {
			return false
		}
		lat, windows = lat[:0], len(wins)
		for _, w := range wins {
			st, _, err := h.ledger.State(ctx, w.JobID)
			if err != nil || st.State != contracts.StateCompleted {
				return false
			}
			for _, r := range h.rows(w.Output) {
				var i int
				if _, err := fmt.Sscanf(r, "o%05d.txt", &i); err == nil && i < n {
					lat = append(lat, st.Finished.Sub(put[i]))
				}
			}
		}
		return len(lat) == n
	})
	b.StopTimer()
	b.Logf("rate %d/s: %d objects in %d windows: p50 %s, p95 %s, max %s", rate, n, windows,
		quantile(lat, 0.5).Round(time.Millisecond), quantile(lat, 0.95).Round(time.Millisecond), quantile(lat, 1).Round(time.Millisecond))
	return lat
}
