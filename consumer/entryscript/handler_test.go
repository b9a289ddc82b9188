package entryscript

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/pandastest"
)

func TestRowsComeBackInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import os

class Thing:
    def __str__(self):
        return "a thing"

def run(mini_batch):
    rows = [os.path.basename(p) for p in mini_batch]
    if not all(os.path.isabs(p) for p in mini_batch):
        raise ValueError("relative path in %r" % mini_batch)
    if not mini_batch:
        return []
    return rows + [1, 2.5, True, None, {"k": [1, "x"], 3: "three"}, ("t", 1), float("nan"), b"raw", Thing(), "ünï"]
`)
	// The default text output: each element's str(), bytes decoded.
	h := b.handler(t, Options{})
	got := runText(t, h, batch("/data/c.txt", "/data/a.txt", "b.txt"))
	want := []string{"c.txt", "a.txt", "b.txt", "1", "2.5", "True", "None", "{'k': [1, 'x'], 3: 'three'}", "('t', 1)", "nan", "raw", "a thing", "ünï"}
	if !slices.Equal(got, want) {
		t.Errorf("rows\n got %q\nwant %q", got, want)
	}
	if got := run(t, h, batch()); len(got) != 0 {
		t.Errorf("rows of an empty mini-batch: %v", got)
	}
	// output_format jsonl: JSON values.
	b.env.Job.Config.OutputFormat = "jsonl"
	got = run(t, b.handler(t, Options{}), batch("/data/c.txt", "/data/a.txt", "b.txt"))
	want = []string{`"c.txt"`, `"a.txt"`, `"b.txt"`, `1`, `2.5`, `true`, `null`, `{"k":[1,"x"],"3":"three"}`, `["t",1]`, `"nan"`, `"raw"`, `"a thing"`, `"ünï"`}
	if !slices.Equal(got, want) {
		t.Errorf("jsonl rows\n got %v\nwant %v", got, want)
	}
}

func TestInitRunsOnceAcrossRuns(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import os

calls = 0

def init():
    global calls
    calls += 1
    with open(os.path.join(os.environ["PRS_OUTPUT_DIR"], "inits"), "a") as f:
        f.write("x")

def run(mini_batch):
    return [calls, os.getpid()]
`)
	h := b.handler(t, Options{})
	// Run starts the process and calls init() itself; Init afterwards does nothing.
	first := runText(t, h, batch("a"))
	if err := h.Init(timeout(t, time.Minute)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	for range 3 {
		if got := runText(t, h, batch("a")); !slices.Equal(got, first) {
			t.Errorf("rows %v, want %v (same init, same process)", got, first)
		}
	}
	if first[0] != "1" {
		t.Errorf("init() ran %s times", first[0])
	}
	inits, err := os.ReadFile(b.output("inits"))
	if err != nil || string(inits) != "x" {
		t.Errorf("inits file: %q, %v", inits, err)
	}
}

func TestEntryScriptHelper(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import logging
import os
import sys

import neighbour
from azureml_user.parallel_run import EntryScript

entry_script = EntryScript()

def init():
    entry_script.logger.info("init says hello")
    entry_script.logger.debug("a hidden debug record")
    print("print from init")

def run(mini_batch):
    print("print from run", file=sys.stderr)
    with open(os.path.join(os.path.dirname(__file__), "data.txt")) as f:
        data = f.read().strip()
    es = EntryScript()
    return [es.output_dir, es.working_dir, es.log_dir, es.agent_name, es.job_id,
            os.getcwd(), __file__, __name__, neighbour.VALUE, data,
            isinstance(es.logger, logging.Logger)]
`)
	writeFile(t, filepath.Join(b.src, "neighbour.py"), "VALUE = 'from next door'\n")
	writeFile(t, filepath.Join(b.src, "data.txt"), "beside the script\n")
	h := b.handler(t, Options{})
	got := runText(t, h, batch("a"))
	cwd, err := filepath.EvalSymlinks(b.env.WorkDir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		b.env.OutputDir, b.env.WorkDir, b.env.LogDir, "worker-a.2", "job-1", cwd, b.script, "score",
		"from next door", "beside the script", "True",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rows\n got %v\nwant %v", got, want)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Close waited for the process and its output.
	mustContain(t, "stderr", b.stderr.String(), "INFO|azureml_user.parallel_run|worker-a.2|init says hello", "print from run")
	mustContain(t, "stdout", b.stdout.String(), "print from init")
	if strings.Contains(b.stderr.String(), "hidden") {
		t.Errorf("a DEBUG record was written at logging level INFO:\n%s", b.stderr.String())
	}
}

func TestArgumentsReachParseKnownArgs(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import argparse
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--labels")
args, unknown = parser.parse_known_args()

def run(mini_batch):
    return [args.model, args.labels, unknown, sys.argv[0]]
`)
	model := filepath.Join(t.TempDir(), "model.onnx")
	b.env.SideInputs = map[string]string{"model": model, "labels": "labels.txt"}
	b.env.Job.Config.Arguments = []string{"--model", "{side_inputs.model}", "--labels={side_inputs.labels}", "--extra", "7"}
	labels, err := filepath.Abs("labels.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := runText(t, b.handler(t, Options{}), batch("a"))
	want := []string{model, labels, "['--extra', '7']", b.script}
	if !slices.Equal(got, want) {
		t.Errorf("rows\n got %v\nwant %v", got, want)
	}
}

func TestUnknownSideInputFailsNew(t *testing.T) {
	t.Parallel()
	b := setup(t, "def run(mini_batch):\n    return mini_batch\n")
	b.env.SideInputs = map[string]string{"model": "/m"}
	b.env.Job.Config.Arguments = []string{"--labels", "{side_inputs.labels}"}
	_, err := New(b.env, Options{})
	if err == nil {
		t.Fatal("New accepted an argument naming an unknown side input")
	}
	mustContain(t, "error", err.Error(), `"labels"`, `{side_inputs.labels}`, `["model"]`)
}

func TestRunRaises(t *testing.T) {
	t.Parallel()
	b := setup(t, `
def divide(n):
    return [1 / n]

def run(mini_batch):
    if mini_batch[0] == "/bad":
        return divide(0)
    return ["fine"]
`)
	h := b.handler(t, Options{})
	_, err := h.Run(timeout(t, time.Minute), batch("/bad"))
	var ie *consumer.InitError
	if errors.As(err, &ie) {
		t.Fatalf("an exception in run() gave an InitError: %v", err)
	}
	se := scriptError(t, err)
	if se.Type != "ZeroDivisionError" || se.Message != "division by zero" {
		t.Errorf("got %s / %q", se.Type, se.Message)
	}
	mustContain(t, "traceback", se.Traceback, "Traceback (most recent call last)", b.script, "in run", "in divide", "ZeroDivisionError: division by zero")
	if strings.Contains(se.Traceback, "prs_shim") {
		t.Errorf("the traceback shows the shim's frames:\n%s", se.Traceback)
	}
	// The process is still good.
	if got := run(t, h, batch("/good")); !slices.Equal(got, []string{`"fine"`}) {
		t.Errorf("rows after the exception: %v", got)
	}
}

func TestRunMustReturnAList(t *testing.T) {
	t.Parallel()
	b := setup(t, `
def run(mini_batch):
    if mini_batch[0] == "/dict":
        return {"a": 1}
    if mini_batch[0] == "/none":
        return None
    return [mini_batch]
`)
	h := b.handler(t, Options{})
	for _, c := range []struct{ path, got string }{{"/none", "NoneType"}, {"/dict", "dict"}} {
		_, err := h.Run(timeout(t, time.Minute), batch(c.path))
		se := scriptError(t, err)
		if se.Type != "TypeError" {
			t.Errorf("%s: type %s", c.path, se.Type)
		}
		mustContain(t, "message", se.Message, "run() must return a list", c.got)
	}
	if got := runText(t, h, batch("/x")); !slices.Equal(got, []string{"['/x']"}) {
		t.Errorf("rows: %v", got)
	}
}

func TestScriptProblemsAreInitErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, script string
		missing      bool
		typ          string
		message      []string
		traceback    []string
	}{
		{name: "missing script", missing: true, typ: "FileNotFoundError", message: []string{"score.py does not exist"}},
		{name: "syntax error", script: "import os\n\ndef run(mini_batch)\n    return []\n",
			typ: "SyntaxError", message: []string{"line 3"}, traceback: []string{"score.py", "line 3"}},
		{name: "no run", script: "def init():\n    pass\n",
			typ: "AttributeError", message: []string{"score.py defines no run(mini_batch) function"}},
		{name: "run not a function", script: "run = 5\n", typ: "TypeError", message: []string{"run is a int"}},
		{name: "import fails", script: "import no_such_module_xyz\n\ndef run(mini_batch):\n    return []\n",
			typ: "ModuleNotFoundError", message: []string{"no_such_module_xyz"}, traceback: []string{"score.py", "line 1"}},
		{name: "init raises", script: "def init():\n    raise ValueError('no model here')\n\ndef run(mini_batch):\n    return []\n",
			typ: "ValueError", message: []string{"no model here"}, traceback: []string{"in init", "ValueError: no model here"}},
		{name: "init dies", script: "import os, sys\n\ndef init():\n    print('giving up', file=sys.stderr)\n    os._exit(5)\n\ndef run(mini_batch):\n    return []\n",
			typ: "Crash", message: []string{"init()", "exit status 5", "giving up"}, traceback: []string{"giving up"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, c.script)
			if c.missing {
				os.Remove(b.script)
			}
			h := b.handler(t, Options{})
			for _, call := range []struct {
				name string
				f    func() error
			}{
				{"Init", func() error { return h.Init(timeout(t, time.Minute)) }},
				{"Run", func() error { _, err := h.Run(timeout(t, time.Minute), batch("a")); return err }},
			} {
				err := call.f()
				var ie *consumer.InitError
				if !errors.As(err, &ie) {
					t.Fatalf("%s: got %v (%T), want a *consumer.InitError", call.name, err, err)
				}
				se := scriptError(t, err)
				if se.Type != c.typ {
					t.Errorf("%s: type %q, want %q (%v)", call.name, se.Type, c.typ, se)
				}
				mustContain(t, call.name+" message", se.Message, c.message...)
				mustContain(t, call.name+" traceback", se.Traceback, c.traceback...)
			}
		})
	}
}

// hangingScript records its init() calls in the output folder; its run()
// returns [init() calls, pid], or, for a mini-batch "/hang", starts a child
// process, writes "PID CHILD_PID" to the output file "pids" and hangs.
const hangingScript = `
import os
import subprocess
import sys
import time

from azureml_user.parallel_run import EntryScript

OUT = EntryScript().output_dir

def init():
    with open(os.path.join(OUT, "inits"), "a") as f:
        f.write("x")

def run(mini_batch):
    if mini_batch[0] == "/hang":
        child = subprocess.Popen(["sleep", "1000"])
        with open(os.path.join(OUT, "pids.tmp"), "w") as f:
            f.write("%d %d" % (os.getpid(), child.pid))
        os.rename(os.path.join(OUT, "pids.tmp"), os.path.join(OUT, "pids"))
        time.sleep(1000)
    if mini_batch[0] == "/crash":
        print("about to crash", file=sys.stderr)
        os._exit(3)
    if mini_batch[0] == "/segfault":
        import signal
        os.kill(os.getpid(), signal.SIGSEGV)
    with open(os.path.join(OUT, "inits")) as f:
        return [len(f.read()), os.getpid()]
`

// pids reads the pids file of hangingScript.
func (b *testBundle) pids(t *testing.T) []int {
	t.Helper()
	data, err := os.ReadFile(b.output("pids"))
	if err != nil {
		t.Fatalf("the script wrote no pids: %v", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, n)
	}
	return pids
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, hangingScript)
	h := b.handler(t, Options{})
	if err := h.Init(timeout(t, time.Minute)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	first := runText(t, h, batch("/ok"))

	began := time.Now()
	_, err := h.Run(timeout(t, 1500*time.Millisecond), batch("/hang"))
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("Run took %s after its deadline of 1.5s", took)
	}
	if !errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("got %v, want ErrRunTimeout", err)
	}
	se := scriptError(t, err)
	if se.Type != "Timeout" {
		t.Errorf("type %q, want Timeout", se.Type)
	}
	mustContain(t, "message", se.Message, "1.5s", "every process it started were killed")
	for _, pid := range b.pids(t) {
		waitFor(t, 10*time.Second, "process "+strconv.Itoa(pid)+" to be gone", func() bool { return gone(pid) })
	}

	// The next run starts a new process, which runs init() again.
	again := runText(t, h, batch("/ok"))
	if again[0] != "2" || again[1] == first[1] {
		t.Errorf("after the timeout: [inits, pid] = %v, before %v", again, first)
	}
}

func TestCanceledRunKillsTheProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, hangingScript)
	h := b.handler(t, Options{})
	first := runText(t, h, batch("/ok"))

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, batch("/hang"))
		done <- err
	}()
	waitFor(t, time.Minute, "run() to hang", func() bool {
		_, err := os.Stat(b.output("pids"))
		return err == nil
	})
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("got %v, want context.Canceled and no ErrRunTimeout", err)
	}
	for _, pid := range b.pids(t) {
		waitFor(t, 10*time.Second, "process "+strconv.Itoa(pid)+" to be gone", func() bool { return gone(pid) })
	}
	if again := runText(t, h, batch("/ok")); again[0] != "2" || again[1] == first[1] {
		t.Errorf("after the cancel: [inits, pid] = %v, before %v", again, first)
	}
}

func TestCrashRestartsTheProcess(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path    string
		message []string
	}{
		{"/crash", []string{"run()", "exit status 3", "last stderr line: about to crash"}},
		{"/segfault", []string{"run()", "segmentation fault"}},
	} {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			b := setup(t, hangingScript)
			h := b.handler(t, Options{})
			first := runText(t, h, batch("/ok"))
			_, err := h.Run(timeout(t, time.Minute), batch(c.path))
			se := scriptError(t, err)
			if se.Type != "Crash" {
				t.Fatalf("type %q, want Crash (%v)", se.Type, se)
			}
			mustContain(t, "message", se.Message, c.message...)
			again := runText(t, h, batch("/ok"))
			if again[0] != "2" || again[1] == first[1] {
				t.Errorf("after the crash: [inits, pid] = %v, before %v", again, first)
			}
		})
	}
	t.Run("traceback holds stderr", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hangingScript)
		_, err := b.handler(t, Options{}).Run(timeout(t, time.Minute), batch("/crash"))
		mustContain(t, "traceback", scriptError(t, err).Traceback, "about to crash")
	})
}

func TestOutputDoesNotDisturbTheProtocol(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import os
import subprocess
import sys

def run(mini_batch):
    for i in range(3000):
        print('{"ok":true,"rows":["fake %d"]}' % i)
        print('{"ok":false,"error":{"type":"Fake"}}', file=sys.stderr)
    sys.stdout.write("no newline at the end")
    sys.stdout.flush()
    os.write(1, b"\nstraight to fd 1\n")
    subprocess.run(["echo", "from a child"], check=True)
    return ["real"] + mini_batch
`)
	h := b.handler(t, Options{})
	for range 2 {
		if got := run(t, h, batch("/x")); !slices.Equal(got, []string{`"real"`, `"/x"`}) {
			t.Fatalf("rows: %v", got)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	out := b.stdout.String()
	if n := strings.Count(out, `{"ok":true,"rows":["fake `); n != 6000 {
		t.Errorf("stdout holds %d fake responses, want 6000", n)
	}
	mustContain(t, "stdout", out, "no newline at the end\nstraight to fd 1\nfrom a child\n")
	if n := strings.Count(b.stderr.String(), `"Fake"`); n != 6000 {
		t.Errorf("stderr holds %d fake errors, want 6000", n)
	}
}

func TestDataFrameAndNumpyRows(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import numpy
import pandas

def run(mini_batch):
    if mini_batch[0] == "/frame":
        return pandas.DataFrame([("a.txt", 1, 0.5), ("b.txt", 2, "x y")], columns=["file", "n", "v"])
    if mini_batch[0] == "/values":
        return pandas.DataFrame({
            "f32": numpy.array([0.1, numpy.nan], dtype=numpy.float32),
            "tiny": [1.5e-12, 0.1234567890123456],
            "emb": [numpy.arange(3) / 4, [float("nan"), None]],
            "when": pandas.to_datetime(["2024-01-02", None]),
            "raw": [b"ab", None],
        })
    return []
`)
	h := b.handler(t, Options{Interpreter: pandastest.Python(t)})
	res, err := h.Run(timeout(t, time.Minute), batch("/frame"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rowStrings(res); !slices.Equal(got, []string{`["a.txt",1,0.5]`, `["b.txt",2,"x y"]`}) || !slices.Equal(res.Columns, []string{"file", "n", "v"}) {
		t.Errorf("DataFrame rows: %v columns %v", got, res.Columns)
	}
	// Values at full precision, float32 as it prints, arrays as lists,
	// missing values as null, timestamps as ISO 8601, bytes as text.
	want := []string{`[0.1,1.5e-12,[0.0,0.25,0.5],"2024-01-02T00:00:00","ab"]`, `[null,0.1234567890123456,[null,null],null,null]`}
	if got := run(t, h, batch("/values")); !slices.Equal(got, want) {
		t.Errorf("DataFrame values:\n got %v\nwant %v", got, want)
	}
}

// TestTablesBecomeDataFrames: a CSV table and JSON records reach run() as
// DataFrames with pandas' types; a second parameter gets the mini-batch's
// partition_key_value.
func TestTablesBecomeDataFrames(t *testing.T) {
	t.Parallel()
	b := setup(t, `
def run(mini_batch, mini_batch_context):
    kinds = ",".join(str(t) for t in mini_batch.dtypes)
    pkv = mini_batch_context.partition_key_value
    return ["%s|%s|%s|%s" % (len(mini_batch), list(mini_batch.columns), kinds, pkv)]
`)
	b.env.Job.Config.InputFormat = "auto"
	h := b.handler(t, Options{Interpreter: pandastest.Python(t)})
	csvBatch := batch()
	csvBatch.Paths = nil
	csvBatch.Table = &consumer.Table{Format: "csv", Columns: []string{"id", "name"}, CSV: []byte("id,name\n1,\"a, b\"\n2,\"x\ny\"\n"), Rows: 2}
	csvBatch.Partition = contracts.PartitionValues{contracts.StringValue("user", "ann")}
	if got := run(t, h, csvBatch); !slices.Equal(got, []string{`"2|['id', 'name']|int64,object|{'user': 'ann'}"`}) {
		t.Errorf("CSV table: %v", got)
	}
	recs := batch()
	recs.Table = &consumer.Table{Format: "parquet", Columns: []string{"x", "y"}, Records: []json.RawMessage{[]byte(`{"x":1.5,"y":"a"}`), []byte(`{"x":2,"y":null}`)}, Rows: 2}
	if got := run(t, h, recs); !slices.Equal(got, []string{`"2|['x', 'y']|float64,object|None"`}) {
		t.Errorf("records table: %v", got)
	}
}

// TestTablePartsKeepTheirIndex: a part of a mini-batch's table that
// isolate_failures runs alone reaches run() with the DataFrame index of its
// rows in the whole (FirstIndex), for CSV text and records alike; a whole
// table starts at 0.
func TestTablePartsKeepTheirIndex(t *testing.T) {
	t.Parallel()
	b := setup(t, `
def run(mini_batch):
    return ["%s:%s" % (i, row["id"]) for i, row in mini_batch.iterrows()]
`)
	b.env.Job.Config.InputFormat = "auto"
	h := b.handler(t, Options{Interpreter: pandastest.Python(t)})
	for _, tc := range []struct {
		table *consumer.Table
		want  []string
	}{
		{&consumer.Table{Format: "csv", Columns: []string{"id"}, CSV: []byte("id\n7\n8\n"), Rows: 2, FirstIndex: 25}, []string{`"25:7"`, `"26:8"`}},
		{&consumer.Table{Format: "jsonl", Records: []json.RawMessage{[]byte(`{"id":3}`)}, Rows: 1, FirstIndex: 4}, []string{`"4:3"`}},
		{&consumer.Table{Format: "csv", Columns: []string{"id"}, CSV: []byte("id\n1\n"), Rows: 1}, []string{`"0:1"`}},
	} {
		bt := batch()
		bt.Paths, bt.Table = nil, tc.table
		if got := run(t, h, bt); !slices.Equal(got, tc.want) {
			t.Errorf("table from %d: %v, want %v", tc.table.FirstIndex, got, tc.want)
		}
	}
}

// TestMiniBatchContextByTheSignature: the context goes to a second
// positional parameter or a keyword-only mini_batch_context, never to a
// second parameter that has a default and another meaning.
func TestMiniBatchContextByTheSignature(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ script, want string }{
		{"def run(mini_batch, ctx):\n    return [str(ctx.partition_key_value)]\n", `"{'u': 'a'}"`},
		{"def run(mini_batch, mini_batch_context=None):\n    return [str(mini_batch_context.partition_key_value)]\n", `"{'u': 'a'}"`},
		{"def run(mini_batch, *, mini_batch_context):\n    return [str(mini_batch_context.partition_key_value)]\n", `"{'u': 'a'}"`},
		{"def run(mini_batch, verbose=False):\n    return [str(verbose)]\n", `"False"`},
		{"def run(mini_batch):\n    return ['one']\n", `"one"`},
	} {
		b := setup(t, tc.script)
		h := b.handler(t, Options{})
		bt := batch("/a")
		bt.Partition = contracts.PartitionValues{contracts.StringValue("u", "a")}
		if got := run(t, h, bt); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: rows %v, want %s", strings.SplitN(tc.script, "\n", 2)[0], got, tc.want)
		}
	}
}

// TestMiniBatchContextAttributes: partition_key_value keeps the order of
// partition_keys and each value's type, so that "/".join(values) builds
// the folder and df[col] == key holds; dataset names the job's input and
// minibatch_index the mini-batch.
func TestMiniBatchContextAttributes(t *testing.T) {
	t.Parallel()
	b := setup(t, `
def run(mini_batch, mini_batch_context):
    pkv = mini_batch_context.partition_key_value
    ds = mini_batch_context.dataset
    return ["/".join(str(v) for v in pkv.values()),
            ",".join(type(v).__name__ for v in pkv.values()),
            "%s %s %d" % (ds.name, ds.uri, mini_batch_context.minibatch_index)]
`)
	b.env.Job.Config.Input = "s3://bucket/songs"
	h := b.handler(t, Options{})
	bt := batch("/a")
	bt.Partition = contracts.PartitionValues{contracts.StringValue("user", "ann"), {Key: "store", Value: json.RawMessage("1000")},
		{Key: "price", Value: json.RawMessage("2.0")}, {Key: "genres", Value: json.RawMessage(`"piano"`)}, {Key: "gone", Value: json.RawMessage("null")}}
	want := []string{`"ann/1000/2.0/piano/None"`, `"str,int,float,str,NoneType"`, `"input s3://bucket/songs 7"`}
	if got := run(t, h, bt); !slices.Equal(got, want) {
		t.Errorf("rows %v, want %v", got, want)
	}
}

// TestTabularInitWithoutPandas: a tabular job whose interpreter has no
// pandas fails at init, saying how to install it.
func TestTabularInitWithoutPandas(t *testing.T) {
	t.Parallel()
	b := setup(t, "def run(mini_batch):\n    return []\n")
	b.env.Job.Config.InputFormat = "csv"
	// pandas put out of reach, whatever the interpreter has installed.
	writeFile(t, filepath.Join(b.src, "pandas", "__init__.py"), "raise ImportError(\"No module named 'pandas'\")\n")
	h := b.handler(t, Options{})
	err := h.Init(timeout(t, time.Minute))
	var ie *consumer.InitError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "cannot import pandas") || !strings.Contains(err.Error(), "python3-pandas") {
		t.Fatalf("Init = %v, want an InitError saying pandas is missing and how to install it", err)
	}
}

func TestInitTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, `
import time

def init():
    time.sleep(1000)

def run(mini_batch):
    return []
`)
	h := b.handler(t, Options{InitTimeout: 300 * time.Millisecond})
	err := h.Init(timeout(t, time.Minute))
	var ie *consumer.InitError
	if !errors.As(err, &ie) || errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("Init: got %v, want an InitError without ErrRunTimeout", err)
	}
	if se := scriptError(t, err); se.Type != "Timeout" {
		t.Errorf("type %q, want Timeout", se.Type)
	}

	// Run's own deadline bounds the init() it needs.
	h2 := b.handler(t, Options{})
	_, err = h2.Run(timeout(t, 300*time.Millisecond), batch("a"))
	if !errors.As(err, &ie) || !errors.Is(err, consumer.ErrRunTimeout) {
		t.Fatalf("Run: got %v, want an InitError wrapping ErrRunTimeout", err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	t.Run("calls shutdown", func(t *testing.T) {
		t.Parallel()
		b := setup(t, `
import os

def run(mini_batch):
    return []

def shutdown():
    with open(os.path.join(os.environ["PRS_OUTPUT_DIR"], "shutdown"), "w") as f:
        f.write("called")
`)
		h := b.handler(t, Options{})
		run(t, h, batch("a"))
		shim := h.(*handler).shimDir
		if err := h.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if data, err := os.ReadFile(b.output("shutdown")); string(data) != "called" {
			t.Errorf("shutdown() did not run: %q, %v", data, err)
		}
		if _, err := os.Stat(shim); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the shim folder is still there: %v", err)
		}
	})
	t.Run("shutdown raises", func(t *testing.T) {
		t.Parallel()
		b := setup(t, "def run(mini_batch):\n    return []\n\ndef shutdown():\n    raise RuntimeError('cannot flush')\n")
		h := b.handler(t, Options{})
		run(t, h, batch("a"))
		err := h.Close()
		if se := scriptError(t, err); se.Type != "RuntimeError" || se.Message != "cannot flush" {
			t.Errorf("Close: %v", err)
		}
	})
	t.Run("shutdown hangs", func(t *testing.T) {
		t.Parallel()
		b := setup(t, hangingScript+"\ndef shutdown():\n    time.sleep(1000)\n")
		h := b.handler(t, Options{ShutdownTimeout: 300 * time.Millisecond})
		rows := runText(t, h, batch("/ok"))
		pid, err := strconv.Atoi(rows[1])
		if err != nil {
			t.Fatal(err)
		}
		err = h.Close()
		if se := scriptError(t, err); se.Type != "Timeout" {
			t.Errorf("Close: %v", err)
		}
		if !gone(pid) {
			t.Errorf("process %d still runs after Close", pid)
		}
	})
}

// bashServer serves the protocol in bash: its rows are the mini-batch's paths.
const bashServer = `
echo "bash server started with $# arguments: $*"
while IFS= read -r -u 3 line; do
  case "$line" in
    *'"op":"init"'*) echo '{"ok": true}' >&4 ;;
    *'"op":"run"'*)
      batch=${line#*\"mini_batch\":}
      echo "{\"ok\": true, \"rows\": ${batch%\}}}" >&4 ;;
    *'"op":"shutdown"'*) echo '{"ok":true}' >&4; exit 0 ;;
    *) echo '{"ok":false,"error":{"type":"ProtocolError","message":"unknown op","traceback":""}}' >&4 ;;
  esac
done
`

func TestNonPythonInterpreter(t *testing.T) {
	t.Parallel()
	b := setup(t, bashServer)
	b.env.Job.Config.Interpreter = "bash"
	b.env.Job.Config.Arguments = []string{"--flag", "value"}
	h := b.handler(t, Options{})
	if got := run(t, h, batch("/a b", "/c")); !slices.Equal(got, []string{`"/a b"`, `"/c"`}) {
		t.Errorf("rows: %v", got)
	}
	if err := h.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	mustContain(t, "stdout", b.stdout.String(), "bash server started with 2 arguments: --flag value")
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	b := setup(t, "def run(mini_batch):\n    return []\n")
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{InitTimeout: -time.Second}, "InitTimeout"},
		{Options{ShutdownTimeout: -time.Second}, "ShutdownTimeout"},
		{Options{Interpreter: "no-such-interpreter-xyz"}, "no-such-interpreter-xyz"},
	} {
		if _, err := New(b.env, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error naming %s", c.opts, err, c.want)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New(nil) gave no error")
	}
}
