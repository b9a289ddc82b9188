package consumer_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/consumer/entryscript"
)

// isolateBenchItems is the mini-batch of BenchmarkIsolate.
const isolateBenchItems = 64

// badAt are the places of the bad files, spread over the mini-batch so
// that each lies in its own half, quarter, ... as long as it can.
var badAt = []int{5, 20, 33, 47, 60}

// benchScript raises when its mini-batch holds one of the files named in
// argv[1], and appends a line to the file argv[2] per call.
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
// reports the extra run() calls per job and the bound 2·k·⌈log2 n⌉; the
// time per op against bad=0 is what the isolation costs.
func BenchmarkIsolate(b *testing.B) {
	for _, lang := range []string{"go", "python"} {
		for _, k := range []int{0, 1, 2, 5} {
			b.Run(fmt.Sprintf("handler=%s/bad=%d", lang, k), func(b *testing.B) {
				benchIsolate(b, lang, k)
			})
		}
	}
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
	var goCalls atomic.Int64
	callsFile := filepath.Join(b.TempDir(), "calls.log")
	calls := func() int64 { return goCalls.Load() }
	if lang == "go" {
		bn.worker(1, poison(bad, "", &goCalls))
	} else {
		script := filepath.Join(b.TempDir(), "score.py")
		if err := os.WriteFile(script, []byte(benchScript), 0o644); err != nil {
			b.Fatal(err)
		}
		c.Handler, c.EntryScript, c.Arguments = "entry_script", script, []string{strings.Join(names, ",") + ",", callsFile}
		bn.workerWith(1, nil, func(wc *consumer.Config) {
			wc.Handlers = map[string]consumer.HandlerFactory{"entry_script": entryscript.Factory(entryscript.Options{})}
		})
		calls = func() int64 {
			data, _ := os.ReadFile(callsFile)
			return int64(strings.Count(string(data), "\n"))
		}
	}
	p := &pipeline{b: bn, c: c}
	p.job(b) // warm up: the script's init(), connections
	before := calls()
	for b.Loop() {
		p.job(b)
	}
	extra := float64(calls()-before)/float64(b.N) - 1
	b.ReportMetric(extra, "extra_calls/op")
	b.ReportMetric(float64(2*k*int(math.Ceil(math.Log2(isolateBenchItems)))), "bound_calls")
	if extra > float64(2*k*6) {
		b.Fatalf("%.1f extra calls, over the bound", extra)
	}
	if rows := bn.rows("parallel_run_step.txt"); len(rows) != isolateBenchItems-k {
		b.Fatalf("%d rows, want %d", len(rows), isolateBenchItems-k)
	}
}
