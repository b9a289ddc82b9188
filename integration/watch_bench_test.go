package integration

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/miniotest"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/watch"
)

// BenchmarkWatchLatency measures, for prs watch on MinIO's bucket
// notifications, the time from an object's PUT (its answer) to its row
// being in its window's output (the window's job completed, its final file
// written), with a no-op script and a 1-second window, at 10 and at 200
// objects a second offered for 10 seconds ($PRS_WATCH_BENCH_SECONDS).
// Uploads follow an offered-rate schedule (object i is due at i/rate) and
// are carried by a pool of concurrent uploaders, so a slow PUT delays no
// other; the rate the PUTs reached is reported beside the one offered.
// It reports p50_s, p95_s and max_s of the latency, reached_per_s, and
// after_close_p50_s: the part of the latency after the object's window
// closed by time (the window's job finishing: script start, the last
// mini-batches, the final file). It runs with MinIO's NATS target queueing
// events in a directory (queue_dir, as README's walk-through sets it up)
// and without (direct). $PRS_WATCH_BENCH_LOG=PATH keeps each run's prs
// watch log, at DEBUG with its window timings, in PATH.RATE.QUEUED.
// Run it alone: go test -run '^$' -bench WatchLatency -benchtime 1x ./integration/
func BenchmarkWatchLatency(b *testing.B) {
	dur := 10 * time.Second
	if s := os.Getenv("PRS_WATCH_BENCH_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("PRS_WATCH_BENCH_SECONDS=%q: want a whole number of seconds", s)
		}
		dur = time.Duration(n) * time.Second
	}
	for _, queued := range []bool{true, false} {
		for _, rate := range []int{10, 200} {
			name := fmt.Sprintf("queue_dir/%d_per_s", rate)
			if !queued {
				name = fmt.Sprintf("direct/%d_per_s", rate)
			}
			b.Run(name, func(b *testing.B) {
				benchWatchLatency(b, rate, dur, queued)
			})
		}
	}
}

func benchWatchLatency(b *testing.B, rate int, dur time.Duration, queued bool) {
	for i := 0; i < b.N; i++ {
		r := watchLatency(b, rate, dur, queued)
		b.ReportMetric(quantile(r.latency, 0.50).Seconds(), "p50_s")
		b.ReportMetric(quantile(r.latency, 0.95).Seconds(), "p95_s")
		b.ReportMetric(quantile(r.latency, 1).Seconds(), "max_s")
		b.ReportMetric(r.reached, "reached_per_s")
		b.ReportMetric(quantile(r.afterClose, 0.50).Seconds(), "after_close_p50_s")
	}
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// latencyRun is what one run of the benchmark measured.
type latencyRun struct {
	latency    []time.Duration // PUT answer to row in output, per object
	afterClose []time.Duration // window closed by time to row in output, per object
	reached    float64         // objects put a second
}

// watchLatency offers rate objects a second for dur and measures each
// object's latency. queued gives MinIO's NATS target a queue directory (as
// README's walk-through does): MinIO then sends events from its queue,
// which it lists every 3 seconds; without one it sends each event as it
// happens (and loses those of a time NATS is away).
func watchLatency(b *testing.B, rate int, dur time.Duration, queued bool) latencyRun {
	b.StopTimer()
	const window = time.Second
	port := freePort(b)
	env := []string{
		"MINIO_NOTIFY_NATS_ENABLE_PRS=on",
		fmt.Sprintf("MINIO_NOTIFY_NATS_ADDRESS_PRS=127.0.0.1:%d", port),
		"MINIO_NOTIFY_NATS_SUBJECT_PRS=prs.events.w",
		"MINIO_NOTIFY_NATS_JETSTREAM_PRS=on",
	}
	if queued {
		env = append(env, "MINIO_NOTIFY_NATS_QUEUE_DIR_PRS="+b.TempDir())
	}
	m := miniotest.StartEnv(b, env...)
	h := newHarnessOnPort(b, m, port)
	h.worker(4)
	s := newS3WatchStore(h)
	s.put("README", "")
	level := "INFO"
	if os.Getenv("PRS_WATCH_BENCH_LOG") != "" {
		level = "DEBUG"
	}
	p := startWatch(b, h.env(), "--input", h.s3("in"), "--output", h.s3("out"), "--include", "*.txt",
		"--source", "events", "--setup", "--setup-arn", "arn:minio:sqs::PRS:nats", "--window", window.String(),
		"--entry-script", "testdata/noop.py", "--window-files", "100000", "--mini-batch-size", "20", "--log-level", level)
	waitFor(b, 30*time.Second, "prs watch to lead", func() bool { return strings.Contains(p.logText(), "leading the new watch") })

	n := rate * int(dur/time.Second)
	b.StartTimer()
	put, reached := offer(b, h, rate, n)
	b.StopTimer()

	lat, afterClose, windows := windowLatencies(b, h, put, window)
	if f := os.Getenv("PRS_WATCH_BENCH_LOG"); f != "" {
		// The watch's log at DEBUG, with its window timings.
		if err := os.WriteFile(fmt.Sprintf("%s.%d.%v", f, rate, queued), []byte(p.logText()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("queue dir %v, rate %d/s offered, %.0f/s reached: %d objects in %d windows: p50 %s, p95 %s, max %s; after the window closed: p50 %s, p95 %s",
		queued, rate, reached, n, windows, quantile(lat, 0.5).Round(time.Millisecond), quantile(lat, 0.95).Round(time.Millisecond),
		quantile(lat, 1).Round(time.Millisecond), quantile(afterClose, 0.5).Round(time.Millisecond), quantile(afterClose, 0.95).Round(time.Millisecond))
	return latencyRun{latency: lat, afterClose: afterClose, reached: reached}
}

// offer puts n objects o00000.txt and on, object i due at i/rate after the
// start (the offered rate), through a pool of uploaders large enough that slow PUTs do not
// hold the schedule back (an object waits for an uploader only when every
// one of them is busy). It returns each object's PUT answer time and the
// rate reached (objects over the time to the last answer).
func offer(b *testing.B, h *harness, rate, n int) ([]time.Time, float64) {
	const uploaders = 64
	opts := h.s3Options()
	opts.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: uploaders, MaxIdleConns: uploaders}}
	in, err := objstore.Open(context.Background(), h.s3("in"), opts)
	if err != nil {
		b.Fatal(err)
	}
	put := make([]time.Time, n)
	errs := make([]error, n)
	due := make(chan int, n) // never blocks the schedule
	var wg sync.WaitGroup
	for range uploaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range due {
				errs[i] = in.Put(context.Background(), fmt.Sprintf("o%05d.txt", i), strings.NewReader("x"))
				put[i] = time.Now()
			}
		}()
	}
	// The schedule, not a ticker: a late wake-up makes the objects due
	// meanwhile go at once, so the offered rate holds.
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
		due <- i
	}
	close(due)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("putting o%05d.txt: %v", i, err)
		}
	}
	took := slices.MaxFunc(put, func(a, c time.Time) int { return a.Compare(c) }).Sub(start)
	reached := float64(n) / took.Seconds()
	b.Logf("%d objects offered at %d/s, put in %s (%.0f/s reached)", n, rate, took.Round(time.Millisecond), reached)
	return put, reached
}

// windowLatencies waits for every object's row and returns, per object,
// the time from its PUT answer to its window's job completing, and from
// its window's closing by time (opened + window) to the same; and the
// number of windows. A completed window's rows are read once.
func windowLatencies(b *testing.B, h *harness, put []time.Time, window time.Duration) (lat, afterClose []time.Duration, windows int) {
	ctx := context.Background()
	kv, err := h.h.JS.KeyValue(ctx, contracts.WatchBucket)
	if err != nil {
		b.Fatal(err)
	}
	done := map[int64]bool{}
	n := len(put)
	waitFor(b, 10*time.Minute, "every object's row", func() bool {
		wins, err := watch.Windows(ctx, kv, "w")
		if err != nil {
			return false
		}
		windows = len(wins)
		for _, w := range wins {
			if done[w.Window] {
				continue
			}
			st, _, err := h.ledger.State(ctx, w.JobID)
			if err != nil || st.State != contracts.StateCompleted {
				continue
			}
			done[w.Window] = true
			for _, r := range h.rows(w.Output) {
				var i int
				if _, err := fmt.Sscanf(r, "o%05d.txt", &i); err == nil && i < n {
					lat = append(lat, st.Finished.Sub(put[i]))
					afterClose = append(afterClose, st.Finished.Sub(w.Opened.Add(window)))
				}
			}
		}
		return len(lat) >= n
	})
	if len(lat) != n {
		b.Fatalf("%d rows for %d objects", len(lat), n)
	}
	return lat, afterClose, windows
}
