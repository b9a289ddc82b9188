package integration

import (
	"context"
	"encoding/csv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
)

// TestLogLayout runs a job whose script prints, logs through EntryScript,
// fails some items, raises on one batch and times out on another, and reads
// every file of the log layout under its (S3) output.
func TestLogLayout(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 40)
	h.worker(2)
	out := h.s3("out")
	stdout, stderr, code := h.prs(2*time.Minute, "submit", "--wait", "--input", h.s3("in"), "--output", out,
		"--entry-script", "testdata/logs.py", "--mini-batch-size", "5", "--run-max-try", "2",
		"--run-invocation-timeout", "2", "--allow-reuse=false", "--resource-monitor-interval", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	id := jobID(t, stdout)
	read := func(key string) string {
		t.Helper()
		s, ok := h.read(out, key)
		if !ok {
			t.Fatalf("no %s", key)
		}
		return s
	}
	find := func(prefix string) []string {
		s, err := objstore.Open(context.Background(), out, h.s3Options())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		_ = s.List(context.Background(), prefix, func(o objstore.ObjectInfo) error {
			keys = append(keys, o.Key)
			return nil
		})
		return keys
	}
	contains := func(what, body string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(body, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, tail(body, 3000))
			}
		}
	}

	// The reports are whole once every worker's last flush has landed and a
	// worker has rewritten them (a --log-flush interval after the end).
	deadline := time.Now().Add(30 * time.Second)
	for {
		report, _ := h.read(out, contracts.LogReport)
		if strings.Count(report, "\n") == 1+10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job report did not reach 10 attempts:\n%s", report)
		}
		time.Sleep(200 * time.Millisecond)
	}
	overview := read(contracts.LogOverview)
	contains("overview", overview, "Job "+id+": Completed", "Mini-batches: 8 created, 8 done (5 succeeded, 3 failed), 2 retries",
		"Items: 40 in all, 28 succeeded, 12 failed", "Result: Completed", "Where to look next")

	summary := read(contracts.LogErrorSummary)
	contains("error.txt", summary, "2 x KeyError: 'no such thing: f00010.txt'", "2 x Timeout:",
		"1 x PartialResult: run() returned 3 rows for 5 items", "first file f00010.txt", "first file f00020.txt", "logs/user/error/")

	recs, err := csv.NewReader(strings.NewReader(read(contracts.LogReport))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	for _, r := range recs[1:] {
		results[r[0]+"/"+r[1]] = r[10] + " " + r[11]
	}
	want := map[string]string{"0/1": "succeeded ", "2/1": "retried KeyError", "2/2": "failed KeyError",
		"4/1": "retried Timeout", "4/2": "failed Timeout", "6/1": "partial PartialResult", "7/1": "succeeded "}
	for k, v := range want {
		if results[k] != v {
			t.Errorf("report row %s: %q, want %q", k, results[k], v)
		}
	}
	if len(recs) != 1+10 {
		t.Errorf("report has %d rows, want 10 attempts:\n%v", len(recs)-1, recs)
	}

	tracebacks := find("logs/user/error/")
	var tb strings.Builder
	for _, k := range tracebacks {
		tb.WriteString(read(k))
	}
	contains("tracebacks", tb.String(), "Traceback (most recent call last)", "KeyError: 'no such thing: f00010.txt'", "logs.py")
	var so, se, el, node strings.Builder
	for _, k := range find("logs/user/stdout/") {
		so.WriteString(read(k))
	}
	for _, k := range find("logs/user/stderr/") {
		se.WriteString(read(k))
	}
	for _, k := range find("logs/user/entry_script_log/") {
		el.WriteString(read(k))
	}
	for _, k := range find("logs/sys/node/") {
		node.WriteString(read(k))
	}
	contains("stdout", so.String(), "init printed this", "run got f00000.txt", "run got f00035.txt")
	contains("stderr", se.String(), "stderr line for f00000.txt")
	contains("entry script log", el.String(), "logger line for f00000.txt", "|INFO|")
	contains("node logs", node.String(), "mini-batch 2 attempt 1", "retried (KeyError", "mini-batch 6 attempt 1: 5 items, 3 succeeded, 2 failed")
	if n := len(find("logs/sys/node/")); n != 2 && n != 1 {
		t.Errorf("%d node logs", n)
	}

	// Resource samples, every second of the run.
	var perf strings.Builder
	for _, k := range find("logs/perf/") {
		perf.WriteString(k + "\n" + read(k))
	}
	contains("perf", perf.String(), "node_resource_usage.csv", "time,cpu_percent,memory_total_mb", "processes_resource_usage.csv",
		",prs,", "python", "node_disk_usage.csv", "available_gb")

	// The same from the terminal.
	all, errOut, code := h.prs(30*time.Second, "logs", id)
	if code != 0 {
		t.Fatalf("prs logs: exit %d\n%s", code, errOut)
	}
	contains("prs logs", all, "==> logs/job_progress_overview.txt <==", "Result: Completed", "==> logs/user/error.txt <==", "KeyError")
	nodes := find("logs/sys/node/")
	name := strings.TrimSuffix(nodes[0][strings.LastIndex(nodes[0], "/")+1:], ".txt")
	one, errOut, code := h.prs(30*time.Second, "logs", id, "--worker", name)
	if code != 0 {
		t.Fatalf("prs logs --worker: exit %d\n%s", code, errOut)
	}
	contains("prs logs --worker", one, "logs/sys/node/", "logs/user/stdout/", "init printed this", "mini-batch 0 attempt 1")
}

// TestKilledWorkerKeepsItsRecentLogs: a worker killed with SIGKILL has
// put its logs up to a few seconds (its --log-flush) before its death.
func TestKilledWorkerKeepsItsRecentLogs(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 60)
	victim := h.workerArgs(1, "--log-flush", "500ms")
	id := h.submit(h.s3("in"), h.s3("out"), []string{"--mini-batch-size", "2"}, "--sleep", "0.2")
	deadline := time.Now().Add(time.Minute)
	for {
		c, _ := h.h.ReadCounters(context.Background(), id)
		if c.Done >= 15 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job did not progress")
		}
		time.Sleep(20 * time.Millisecond)
	}
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	// Every batch recorded more than two flush intervals before the kill is
	// in the worker's node log under the output.
	s, err := objstore.Open(context.Background(), h.s3("out"), h.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	var node string
	_ = s.List(context.Background(), "logs/sys/node/", func(o objstore.ObjectInfo) error {
		b, _ := h.read(h.s3("out"), o.Key)
		node += b
		return nil
	})
	checked := 0
	for i := int64(0); i < 30; i++ {
		o, _, ok, err := h.ledger.Outcome(context.Background(), id, i)
		if err != nil || !ok || o.Finished.After(killed.Add(-1500*time.Millisecond)) {
			continue
		}
		checked++
		if !strings.Contains(node, "mini-batch "+itoa(i)+" attempt 1:") {
			t.Errorf("batch %d, done %s before the kill, is not in the node log", i, killed.Sub(o.Finished).Round(time.Millisecond))
		}
	}
	if checked < 5 {
		t.Fatalf("only %d batches to check", checked)
	}
}
