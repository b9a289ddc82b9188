package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/internal/pandastest"
)

// seenScript records, for each run() call, what the call got: its
// mini_batch_context (partition_key_value with each value's Python type,
// dataset, minibatch_index) and its DataFrame (columns, dtypes, index,
// values), one JSON line a call in the file $SEEN_FILE.
const seenScript = `import json, os

def init():
    pass

def run(mini_batch, mini_batch_context):
    pkv = mini_batch_context.partition_key_value
    seen = {
        "pkv": {k: [type(v).__name__, str(v)] for k, v in (pkv or {}).items()},
        "pkv_keys": list((pkv or {}).keys()),
        "dataset": repr(mini_batch_context.dataset),
        "minibatch_index": mini_batch_context.minibatch_index,
        "type": type(mini_batch).__name__,
    }
    if isinstance(mini_batch, list):
        seen["values"] = [os.path.join(os.path.basename(os.path.dirname(p)), os.path.basename(p)) for p in mini_batch]
    else:
        seen["columns"] = [str(c) for c in mini_batch.columns]
        seen["dtypes"] = [str(d) for d in mini_batch.dtypes]
        seen["index"] = [int(i) for i in mini_batch.index]
        seen["values"] = mini_batch.astype(str).values.tolist()
    with open(os.environ["SEEN_FILE"], "a") as f:
        f.write(json.dumps(seen, sort_keys=True) + "\n")
    return [str(v) for v in seen["values"]]
`

// prs debug on an input with partition_keys gives run() what a worker
// gives it for the same group: the same DataFrame (or files) and the same
// mini_batch_context (typed partition values in partition_keys' order, the
// dataset, the mini-batch's index); for a CSV input and for a folder
// partitioned by partition_format.
func TestPrsDebugPartitionGroupMatchesRun(t *testing.T) {
	t.Run("csv", func(t *testing.T) {
		dir := t.TempDir()
		in := mkdir(t, filepath.Join(dir, "in"))
		writeFile(t, in, "a.csv", []byte("id,store,user,x\n1,10,u1,0.5\n2,20,u2,1.5\n3,10,u1,2.5\n4,10,u2,3.5\n"))
		writeFile(t, in, "b.csv", []byte("id,store,user,x\n5,20,u2,4.5\n6,10,u1,5.5\n"))
		sameGroupSeen(t, dir, 3, []string{`"pkv_keys": ["user", "store"]`, `"store": ["int", "10"]`, `"user": ["str", "u1"]`, `"dtypes": ["int64", "int64", "object", "float64"]`},
			"--input", in, "--input-format", "csv", "--partition-keys", "user,store")
	})
	t.Run("files", func(t *testing.T) {
		dir := t.TempDir()
		in := mkdir(t, filepath.Join(dir, "in"))
		for _, f := range []string{"u1/2024/a.txt", "u1/2024/b.txt", "u2/2024/c.txt", "u1/2025/d.txt"} {
			mkdir(t, filepath.Join(in, filepath.Dir(f)))
			writeFile(t, in, f, []byte(f))
		}
		sameGroupSeen(t, dir, 3, []string{`"pkv_keys": ["user", "year"]`, `"user": ["str", "u1"]`, `"year": ["str", "2024"]`, `"values": ["2024/a.txt", "2024/b.txt"]`},
			"--input", in, "--partition-format", "/{user}/{year}/{name}.txt", "--partition-keys", "user,year")
	})
}

// sameGroupSeen runs seenScript under prs debug and under prs run with
// args: debug's one run() call must show wants and be one of run's groups
// calls.
func sameGroupSeen(t *testing.T, dir string, groups int, wants []string, args ...string) {
	t.Helper()
	script := filepath.Join(dir, "seen.py")
	if err := os.WriteFile(script, []byte(seenScript), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append(args, "--entry-script", script, "--interpreter", pandastest.Python(t))
	debugSeen := filepath.Join(dir, "debug.jsonl")
	out, code := prsRun(t, nil, append([]string{"debug", "--environment-variable", "SEEN_FILE=" + debugSeen}, args...)...)
	if code != 0 {
		t.Fatalf("prs debug: exit %d\n%s", code, out)
	}
	runSeen := filepath.Join(dir, "run.jsonl")
	out, code = prsRun(t, nil, append([]string{"run", "--environment-variable", "SEEN_FILE=" + runSeen, "--nats", "", "--allow-reuse=false",
		"--output", filepath.Join(dir, "out")}, args...)...)
	if code != 0 {
		t.Fatalf("prs run: exit %d\n%s", code, tail(out, 3000))
	}
	debugCalls, runCalls := seenCalls(t, debugSeen), seenCalls(t, runSeen)
	if len(debugCalls) != 1 || len(runCalls) != groups {
		t.Fatalf("%d run() calls under prs debug, %d under prs run; want 1 and %d groups", len(debugCalls), len(runCalls), groups)
	}
	for _, want := range wants {
		if !strings.Contains(debugCalls[0], want) {
			t.Fatalf("prs debug's run() got %s, lacking %s", debugCalls[0], want)
		}
	}
	for _, c := range runCalls {
		if c == debugCalls[0] {
			return // the same group, seen the same way
		}
	}
	t.Fatalf("prs debug's run() got\n%s\nwhich no run() of prs run got:\n%s", debugCalls[0], strings.Join(runCalls, "\n"))
}

// seenCalls reads the lines seenScript wrote.
func seenCalls(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}
