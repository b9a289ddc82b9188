package consumer_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// rawLoop is the broker's own pace, the ceiling of the pipeline: a work
// queue stream on the same server as the pipeline's, with slots goroutines
// that each pull one message at a time and double-ack it, as a slot does.
type rawLoop struct {
	js    jetstream.JetStream
	cons  jetstream.Consumer
	slots int
	body  []byte
}

func newRawLoop(tb testing.TB, p *pipeline, slots int) *rawLoop {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := p.b.h.JS
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "RAWLOOP", Subjects: []string{"rawloop.>"}, Retention: jetstream.WorkQueuePolicy,
		Discard: jetstream.DiscardNew, Storage: jetstream.FileStorage,
	})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait: 30 * time.Second, MaxDeliver: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	// A message the size of a one-file mini-batch's.
	body := fmt.Appendf(nil, `{"job_id":"%s","index":123,"items":[{"key":"f00123.txt","size":3}]}`, "j20261130195500-0123456789abcdef")
	return &rawLoop{js: js, cons: c, slots: slots, body: body}
}

// publish puts n messages in the queue (not timed).
func (r *rawLoop) publish(tb testing.TB, n int) {
	tb.Helper()
	futs := make([]jetstream.PubAckFuture, 0, n)
	for i := 0; i < n; i++ {
		f, err := r.js.PublishAsync(fmt.Sprintf("rawloop.%d", i), r.body)
		if err != nil {
			tb.Fatal(err)
		}
		futs = append(futs, f)
	}
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			tb.Fatal(err)
		}
	}
}

// run pulls and double-acks n messages over r.slots goroutines.
func (r *rawLoop) run(tb testing.TB, n int) {
	tb.Helper()
	var (
		mu   sync.Mutex
		left = n
		wg   sync.WaitGroup
		errs = make(chan error, r.slots)
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if left == 0 {
			return false
		}
		left--
		return true
	}
	for range r.slots {
		wg.Go(func() {
			for take() {
				msg, err := r.cons.Next(jetstream.FetchMaxWait(5 * time.Second))
				if err == nil {
					err = msg.DoubleAck(context.Background())
				}
				if err != nil && err != nats.ErrTimeout {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// BenchmarkPipelineVsRaw runs, in each op, a pipeline job of benchBatches
// one-file mini-batches (PRS_PIPE_BENCH_BATCHES sets another number, such
// as 20000) with the no-op handler and 4 slots, and a raw JetStream loop
// over as many messages on the same server (4 goroutines, pull one message,
// double-ack), and reports both rates and their ratio (of_raw =
// pipeline_batches/s / raw_msgs/s).
func BenchmarkPipelineVsRaw(b *testing.B) {
	const slots = 4
	n := benchBatches
	if v := os.Getenv("PRS_PIPE_BENCH_BATCHES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("PRS_PIPE_BENCH_BATCHES=%q: want a number of mini-batches", v)
		}
	}
	p := newPipelineOf(b, slots, n)
	r := newRawLoop(b, p, slots)
	p.job(b)
	r.publish(b, n)
	r.run(b, n)
	var pipe, raw, pipeCPU, rawCPU time.Duration
	for b.Loop() {
		t0, c0 := time.Now(), cpuTime(b)
		p.job(b)
		pipe, pipeCPU = pipe+time.Since(t0), pipeCPU+cpuTime(b)-c0
		r.publish(b, n)
		t1, c1 := time.Now(), cpuTime(b)
		r.run(b, n)
		raw, rawCPU = raw+time.Since(t1), rawCPU+cpuTime(b)-c1
	}
	reportBatches(b, "pipeline_batches/s", b.N*n, pipe)
	reportBatches(b, "raw_msgs/s", b.N*n, raw)
	// CPU time of the whole process (the embedded server included) per
	// mini-batch: on a shared machine, where wall time is the share of the
	// CPUs the process gets, the cost that its own code sets.
	b.ReportMetric(float64(pipeCPU.Microseconds())/float64(b.N*n), "pipeline_cpu_us/batch")
	b.ReportMetric(float64(rawCPU.Microseconds())/float64(b.N*n), "raw_cpu_us/msg")
	b.ReportMetric(raw.Seconds()/pipe.Seconds(), "of_raw")
	p.check(b)
}

// cpuTime is the CPU time (user and system) the process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
