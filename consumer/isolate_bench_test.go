package consumer_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/entryscript"
)

// isolateBenchItems is the mini-batch of BenchmarkIsolate.
const isolateBenchItems = 64

// badAt are the places of the bad files, spread over the mini-batch so
// that each lies in its own half, quarter, ... as long as it can.
var badAt = []int{5, 20, 33, 47, 60}

// benchScript raises when its mini-batch holds one of the files named in
// argv[1], and appends a line to the file argv[2] per call (as a script
// that writes on the side does).
const benchScript = `import os, sys
bad, calls = set(), None
def init():
    global bad, calls
    bad, calls = set(sys.argv[1].split(",")), sys.argv[2]
def run(mini_batch):
    with open(calls, "a") as f:
        f.write("x\n")
    names = [os.path.basename(p) for p in mini_batch]
    for n in names:
        if n in bad:
            raise ValueError("cannot read " + n)
    return names
`

// BenchmarkIsolate measures isolate_failures: one op is a job of one
// mini-batch of 64 files with 0, 1, 2 or 5 bad files, on its only try,
// through a worker, with a Go handler and with a python entry script. It
// reports the extra run() calls per job against the bound 2·k·⌈log2 n⌉, and
// the time they took (isolation_ms/op: from the end of the whole
// mini-batch's run() to the end of the last part's, the worker's work
// between parts included); ns/op is a whole job's, whose overhead (a new
// job, and for python a new process) hides it.
func BenchmarkIsolate(b *testing.B) {
	for _, lang := range []string{"go", "python"} {
		for _, k := range []int{0, 1, 2, 5} {
			b.Run(fmt.Sprintf("handler=%s/bad=%d", lang, k), func(b *testing.B) {
				benchIsolate(b, lang, k)
			})
		}
	}
}

// timedRuns wraps a job's handler: it counts the run() calls after each
// job's first (the parts of its isolation) and the time from the end of
// the first to the end of the last (the isolation, with the worker's own
// work between the parts).
type timedRuns struct {
	consumer.Handler
	t *runTimes
}

type runTimes struct {
	mu    sync.Mutex
	last  map[string]time.Time // end of each job's latest run()
	extra int
	took  time.Duration
}

func (h timedRuns) Run(ctx context.Context, bt *consumer.Batch) (consumer.Result, error) {
	res, err := h.Handler.Run(ctx, bt)
	end := time.Now()
	t := h.t
	t.mu.Lock()
	defer t.mu.Unlock()
	if last, ok := t.last[bt.JobID]; ok {
		t.extra++
		t.took += end.Sub(last)
	}
	t.last[bt.JobID] = end
	return res, err
}

func (t *runTimes) get() (extra int, took time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.extra, t.took
}

func benchIsolate(b *testing.B, lang string, k int) {
	bn := newBundle(b, isolateBenchItems)
	bad := map[string]bool{}
	var names []string
	for _, i := range badAt[:k] {
		n := fmt.Sprintf("f%05d.txt", i)
		bad[n], names = true, append(names, n)
	}
	c := bn.config(isolateBenchItems)
	c.RunMaxTry, c.IsolateFailures = 1, true
	var unused atomic.Int64
	inner := consumer.HandlerFactory(func(context.Context, *consumer.JobEnv) (consumer.Handler, error) {
		return poison(bad, "", &unused), nil
	})
	if lang == "python" {
		script := filepath.Join(b.TempDir(), "score.py")
		if err := os.WriteFile(script, []byte(benchScript), 0o644); err != nil {
			b.Fatal(err)
		}
		c.EntryScript, c.Arguments = script, []string{strings.Join(names, ",") + ",", filepath.Join(b.TempDir(), "calls.log")}
		inner = entryscript.Factory(entryscript.Options{})
	}
	times := &runTimes{last: map[string]time.Time{}}
	bn.workerWith(1, nil, func(wc *consumer.Config) {
		wc.LogFlush = 20 * time.Millisecond // a job's end waits for no long flush
		wc.Handlers = map[string]consumer.HandlerFactory{"test": func(ctx context.Context, env *consumer.JobEnv) (consumer.Handler, error) {
			h, err := inner(ctx, env)
			return timedRuns{Handler: h, t: times}, err
		}}
	})
	// Each job has its own output, so that none waits for the last one's
	// hold on its output to be released.
	outputs := b.TempDir()
	p := &pipeline{b: bn, c: c}
	job := func(i int) {
		p.c.Output = filepath.Join(outputs, fmt.Sprint(i))
		p.job(b)
	}
	job(0) // warm up: connections, the first handler
	calls0, took0 := times.get()
	n := 0
	for b.Loop() {
		n++
		job(n)
	}
	calls, took := times.get()
	extra := float64(calls-calls0) / float64(b.N)
	b.ReportMetric(extra, "extra_calls/op")
	b.ReportMetric(float64(2*k*int(math.Ceil(math.Log2(isolateBenchItems)))), "bound_calls")
	b.ReportMetric((took-took0).Seconds()*1000/float64(b.N), "isolation_ms/op")
	if extra > float64(2*k*6) {
		b.Fatalf("%.1f extra calls, over the bound", extra)
	}
	data, err := os.ReadFile(filepath.Join(p.c.Output, "parallel_run_step.txt"))
	if rows := strings.Count(string(data), "\n"); err != nil || rows != isolateBenchItems-k {
		b.Fatalf("%d rows (%v), want %d", rows, err, isolateBenchItems-k)
	}
}
