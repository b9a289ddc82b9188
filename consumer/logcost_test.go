package consumer_test

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
)

// BenchmarkLogCost measures what the log layout costs: the same job (by
// default 5,000 mini-batches of one file on 50 slots; PRS_BENCH_LOG_BATCHES
// changes the count) through a worker with logs on and one with logs off,
// in turn within each op, and reports both rates and the overhead.
func BenchmarkLogCost(b *testing.B) {
	batches := 5000
	if v, err := strconv.Atoi(os.Getenv("PRS_BENCH_LOG_BATCHES")); err == nil && v > 0 {
		batches = v
	}
	setup := func(noLogs bool) *bundle {
		bn := newBundle(b, batches)
		bn.workerWith(50, noop, func(c *consumer.Config) {
			c.NoLogs = noLogs
			c.LogFlush = time.Second
			c.OverviewEvery = 2 * time.Second
		})
		return bn
	}
	on, off := setup(false), setup(true)
	run := func(bn *bundle) time.Duration {
		c := bn.config(1)
		start := time.Now()
		_, st, _ := bn.run(c)
		if st.State != "Completed" {
			b.Fatalf("state %+v", st)
		}
		return time.Since(start)
	}
	var tOn, tOff time.Duration
	for b.Loop() {
		tOn += run(on)
		tOff += run(off)
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
}
