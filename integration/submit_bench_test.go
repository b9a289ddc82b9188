package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// listBenchObjectsEnv sets the number of input files of
// BenchmarkSubmitListing (default 20,000, so that CI's one run is quick;
// BENCHMARKS.md's figure is at 1,000,000).
const listBenchObjectsEnv = "PRS_LIST_BENCH_OBJECTS"

// listBenchPerFolder is the number of files in each folder of the input.
const listBenchPerFolder = 1000

// BenchmarkSubmitListing runs `prs submit` as a child process on a local
// input folder of N empty files (1,000 to a folder, in nested folders;
// N from $PRS_LIST_BENCH_OBJECTS, default 20,000) with a local output and
// JetStream embedded in the benchmark, and reports objects_per_s (N over
// the submit's wall time: start, checks, the listing that counts and
// fingerprints the input, the listing that publishes its mini-batches of
// the default 10 files, and every ack) and peak_rss_MB, the child's own
// peak resident memory (getrusage's ru_maxrss). The job it submitted must
// be sealed with N items. The target is at most 100 MB at 1,000,000
// objects; the figure is measured, not asserted.
// Run it: PRS_LIST_BENCH_OBJECTS=1000000 go test -run '^$' -bench SubmitListing -benchtime 1x ./integration/
func BenchmarkSubmitListing(b *testing.B) {
	n := 20_000
	if s := os.Getenv(listBenchObjectsEnv); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			b.Fatalf("%s=%q: want a positive number of files", listBenchObjectsEnv, s)
		}
		n = v
	}
	in := filepath.Join(b.TempDir(), "in")
	start := time.Now()
	makeEmptyFiles(b, in, n)
	b.Logf("made %d empty files in %v", n, time.Since(start).Round(time.Millisecond))
	h := newHarnessOnPort(b, minio, freePort(b))
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(b.TempDir(), "out")
		secs, rssKB, id := submitMeasured(b, h, in, out)
		st, _, err := h.ledger.State(context.Background(), id)
		if err != nil {
			b.Fatal(err)
		}
		if !st.Sealed || st.TotalItems != int64(n) || st.TotalBatches != int64((n+9)/10) {
			b.Fatalf("run %d: job %s state %+v; want sealed, %d items in %d mini-batches", i, id, st, n, (n+9)/10)
		}
		b.ReportMetric(float64(n)/secs, "objects_per_s")
		b.ReportMetric(float64(rssKB)*1024/1e6, "peak_rss_MB")
		b.Logf("submitted %d files (%d mini-batches) in %.1f s, peak RSS %.1f MB", n, st.TotalBatches, secs, float64(rssKB)*1024/1e6)
	}
}

// submitMeasured runs prs submit of the no-op script on in and returns its
// wall time in seconds, its peak resident memory in KiB and the job's id.
func submitMeasured(b *testing.B, h *harness, in, out string) (float64, int64, string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "submit", "--input", in, "--output", out,
		"--entry-script", "testdata/noop.py", "--allow-reuse=false")
	cmd.Env = h.env()
	start := time.Now()
	stdout, err := cmd.Output()
	secs := time.Since(start).Seconds()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		b.Fatalf("prs submit: %v\n%s%s", err, stdout, tail(string(stderr), 4000))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		b.Fatal("no rusage of prs submit")
	}
	return secs, ru.Maxrss, jobID(b, string(stdout))
}

// makeEmptyFiles makes n empty files under dir, listBenchPerFolder to a
// folder: dir/a000/b000/f000.bin and on.
func makeEmptyFiles(tb testing.TB, dir string, n int) {
	tb.Helper()
	folders := (n + listBenchPerFolder - 1) / listBenchPerFolder
	jobs := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for d := range jobs {
				if err := makeFolder(dir, d, min(listBenchPerFolder, n-d*listBenchPerFolder)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for d := 0; d < folders; d++ {
		select {
		case jobs <- d:
		case err := <-errs:
			close(jobs)
			wg.Wait()
			tb.Fatal(err)
		}
	}
	close(jobs)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
}

// makeFolder makes folder d of makeEmptyFiles with k empty files.
func makeFolder(dir string, d, k int) error {
	sub := filepath.Join(dir, fmt.Sprintf("a%03d", d/1000), fmt.Sprintf("b%03d", d%1000))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	for i := range k {
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("f%03d.bin", i)))
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}
