package consumer_test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
)

// BenchmarkLogCost measures what the log layout costs: the same job (by
// default 5,000 mini-batches of one file on 50 slots; PRS_BENCH_LOG_BATCHES
// changes the count) through a worker with logs on (the default flush,
// the overview every 100ms, so that a job of a second, as fast as the
// pipeline now runs it here, still shows its progress) and one with logs off, in turn within each op,
// the order swapped every other op, and reports both rates and the
// overhead. A second logs-off worker gives an A/A baseline (aa_%): how far
// two identical setups differ on this machine, the noise the overhead must
// be read against.
func BenchmarkLogCost(b *testing.B) {
	batches := 5000
	if v, err := strconv.Atoi(os.Getenv("PRS_BENCH_LOG_BATCHES")); err == nil && v > 0 {
		batches = v
	}
	setup := func(noLogs bool) *bundle {
		bn := newBundle(b, batches)
		bn.workerWith(50, noop, func(c *consumer.Config) {
			c.NoLogs, c.OverviewEvery = noLogs, 100*time.Millisecond // LogFlush: the default 5s
		})
		return bn
	}
	on, off, off2 := setup(false), setup(true), setup(true)
	run := func(bn *bundle) time.Duration {
		c := bn.config(1)
		start := time.Now()
		_, st, _ := bn.run(c)
		if st.State != "Completed" {
			b.Fatalf("state %+v", st)
		}
		return time.Since(start)
	}
	var tOn, tOff, tOff2 time.Duration
	seen := map[string]bool{}
	op := 0
	for b.Loop() {
		op++
		if op%2 == 0 {
			tOff += run(off)
			tOff2 += run(off2)
		}
		// While the job with logs runs, its overview keeps changing.
		done := make(chan time.Duration)
		go func() { done <- run(on) }()
		for waiting := true; waiting; {
			select {
			case d := <-done:
				tOn += d
				waiting = false
			case <-time.After(50 * time.Millisecond):
				if body, err := os.ReadFile(on.output + "/logs/job_progress_overview.txt"); err == nil {
					if lines := strings.Split(string(body), "\n"); len(lines) > 3 {
						seen[lines[3]] = true // "Mini-batches: N created, M done ..."
					}
				}
			}
		}
		if op%2 == 1 {
			tOff2 += run(off2)
			tOff += run(off)
		}
	}
	// It showed progress during the run, and it ends with the result.
	midRun := false
	for line := range seen {
		if !strings.Contains(line, fmt.Sprintf("%d done", batches)) {
			midRun = true
		}
	}
	if !midRun {
		b.Fatalf("the overview showed no progress during a job of %d mini-batches: %v", batches, seen)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		body, _ := os.ReadFile(on.output + "/logs/job_progress_overview.txt")
		if strings.Contains(string(body), "Result: Completed") {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("the overview does not show the result:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := os.Stat(on.output + "/logs/sys/job_report/processed_mini-batches.csv"); err != nil {
		b.Fatalf("logs on wrote no report: %v", err)
	}
	if _, err := os.Stat(off.output + "/logs/sys/node"); err == nil {
		b.Fatal("logs off wrote node logs")
	}
	n := float64(b.N * batches)
	b.ReportMetric(n/tOn.Seconds(), "logs_on_batches/s")
	b.ReportMetric(n/tOff.Seconds(), "logs_off_batches/s")
	b.ReportMetric(100*(tOn.Seconds()-tOff.Seconds())/tOff.Seconds(), "overhead_%")
	b.ReportMetric(100*(tOff2.Seconds()-tOff.Seconds())/tOff.Seconds(), "aa_%")
}
