package debugrun_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/cmd/prs/internal/debugrun"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/internal/pandastest"
)

// debug runs script (a real python3 entry script) on files named f0.txt..
// in prs debug's way.
func debug(t *testing.T, script string, files int) *debugrun.Report {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range files {
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("f%d.txt", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	py := filepath.Join(dir, "score.py")
	if err := os.WriteFile(py, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	c := contracts.DefaultConfig()
	c.EntryScript, c.Input = py, in
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := debugrun.Run(ctx, debugrun.Config{Job: c, Stores: &ledger.Stores{}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// prs debug counts items as a worker does: rows beyond one per file are
// shown and noted, never counted as succeeded items.
func TestDebugCountsEachItemOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                        string
		run                         string
		returned, succeeded, failed int
		note                        string
	}{
		{"one row per file", "return [os.path.basename(p) for p in mb]", 4, 4, 0, ""},
		{"three rows per file", "return [os.path.basename(p) for p in mb for _ in range(3)]", 12, 4, 0,
			"run() returned 12 rows for 4 items; the 8 extra rows are kept"},
		{"rows for half the files", "return [os.path.basename(p) for p in mb[:2]]", 2, 2, 2, "run() returned 2 rows for 4 items"},
		{"no row", "return []", 0, 0, 4, "run() returned 0 rows for 4 items"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := debug(t, "import os\n\ndef init():\n    pass\n\ndef run(mb):\n    "+tc.run+"\n", 4)
			if rep.Err != nil || rep.Count != 4 || rep.Returned != tc.returned || rep.Succeeded != tc.succeeded || rep.Failed != tc.failed {
				t.Fatalf("report: %d items, %d returned, %d succeeded, %d failed, err %v; want 4, %d, %d, %d",
					rep.Count, rep.Returned, rep.Succeeded, rep.Failed, rep.Err, tc.returned, tc.succeeded, tc.failed)
			}
			if !strings.Contains(rep.Note, tc.note) || (tc.note == "") != (rep.Note == "") {
				t.Fatalf("note %q, want %q", rep.Note, tc.note)
			}
			if got := strings.Count(string(rep.Rows), "\n"); got != tc.returned {
				t.Fatalf("%d rows shown, want all %d returned:\n%s", got, tc.returned, rep.Rows)
			}
		})
	}
}

// With partition_keys and --limit, prs debug runs a file input's first
// group as a worker gets it: the group's files (no more than --limit) and
// its values in mini_batch_context.partition_key_value.
func TestDebugRunsTheFirstPartitionGroupUpToLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, p := range []string{"bob/1.txt", "ada/1.txt", "ada/2.txt", "ada/3.txt", "bob/2.txt"} {
		if err := os.MkdirAll(filepath.Join(dir, "in", filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "in", p), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	py := filepath.Join(dir, "score.py")
	script := "import os\n\ndef init():\n    pass\n\ndef run(mb, ctx):\n" +
		"    return [ctx.partition_key_value['user'] + ':' + os.path.basename(p) for p in mb]\n"
	if err := os.WriteFile(py, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		rows  string
	}{
		{0, "ada:1.txt\nada:2.txt\nada:3.txt\n"},
		{2, "ada:1.txt\nada:2.txt\n"},
	} {
		c := contracts.DefaultConfig()
		c.EntryScript, c.Input = py, filepath.Join(dir, "in")
		c.PartitionFormat, c.PartitionKeys = "/{user}/{name}.txt", []string{"user"}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rep, err := debugrun.Run(ctx, debugrun.Config{Job: c, Limit: tc.limit, Stores: &ledger.Stores{}, Stdout: io.Discard, Stderr: io.Discard})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if rep.Err != nil || string(rep.Rows) != tc.rows || rep.Failed != 0 {
			t.Fatalf("--limit %d: rows %q, %d failed, err %v; want %q", tc.limit, rep.Rows, rep.Failed, rep.Err, tc.rows)
		}
	}
}

// TestDebugRunsTheFirstPartitionGroup: with partition_keys, prs debug runs
// the first group as the producer makes it (its files or rows, whatever
// mini_batch_size says) with its mini_batch_context.partition_key_value,
// in the order of partition_keys and typed as the DataFrame holds it.
func TestDebugRunsTheFirstPartitionGroup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel, content string) string {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, f := range []string{"ann/2019/piano.wav", "ann/2020/piano.wav", "ann/2020/disco.wav", "bob/2019/piano.wav"} {
		write("songs/"+f, "RIFF")
	}
	write("oj/oj.csv", "Week,Store,Brand,Sales\n1,1000,tropicana,5\n1,1001,dominicks,6\n2,1000,tropicana,7\n2,1000,dominicks,8\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	c := contracts.DefaultConfig()
	c.EntryScript = write("folder.py", `import os
def run(mini_batch, mini_batch_context):
    pkv = mini_batch_context.partition_key_value
    return ["/".join(pkv.values()) + " " + os.path.basename(os.path.dirname(p)) for p in mini_batch]
`)
	c.Input, c.MiniBatchSize = filepath.Join(dir, "songs"), "1"
	c.PartitionKeys, c.PartitionFormat = []string{"user", "genres"}, "/{user}/{season}/{genres}.wav"
	rep, err := debugrun.Run(ctx, debugrun.Config{Job: c, Stores: &ledger.Stores{}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rep.Rows), "ann/piano 2019\nann/piano 2020\n"; rep.Err != nil || got != want || rep.Groups != 3 ||
		string(rep.Partition.Object()) != `{"user":"ann","genres":"piano"}` {
		t.Fatalf("files: rows %q (want %q), groups %d, partition %s, err %v", got, want, rep.Groups, rep.Partition, rep.Err)
	}

	c = contracts.DefaultConfig()
	c.EntryScript = write("column.py", `def run(mini_batch, mini_batch_context):
    pkv = mini_batch_context.partition_key_value
    same = (mini_batch["Store"] == pkv["Store"]).all() and (mini_batch["Brand"] == pkv["Brand"]).all()
    return ["%s %s %d" % (list(pkv.items()), same, s) for s in mini_batch["Sales"]]
`)
	c.Input, c.InputFormat, c.Interpreter = filepath.Join(dir, "oj"), "csv", pandastest.Python(t)
	c.PartitionKeys = []string{"Store", "Brand"}
	rep, err = debugrun.Run(ctx, debugrun.Config{Job: c, Stores: &ledger.Stores{}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(rep.Rows), "[('Store', 1000), ('Brand', 'tropicana')] True 5\n[('Store', 1000), ('Brand', 'tropicana')] True 7\n"; rep.Err != nil || got != want || rep.Count != 2 {
		t.Fatalf("rows: %q (want %q), %d items, err %v", got, want, rep.Count, rep.Err)
	}
}
