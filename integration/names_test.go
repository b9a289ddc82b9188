package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/pandastest"
)

// TestNamesThatAreNotUTF8 runs jobs on a local folder whose file and folder
// names hold bytes that are not UTF-8: each name reaches the script as the
// bytes it is (the script opens the file), its neighbours in the
// mini-batch are not disturbed, and its row in the final file holds those
// bytes; the same for a partition_format value taken from a folder name and
// for a CSV table's name and cells.
func TestNamesThatAreNotUTF8(t *testing.T) {
	t.Run("files", func(t *testing.T) {
		j := newLocalJob(t, `
import os

def run(mini_batch):
    rows = []
    for path in mini_batch:
        with open(path) as f:
            rows.append(os.path.basename(path) + " " + f.read())
    return rows
`, map[string]string{"a.txt": "A", "bad\xffname.txt": "B", "c.txt": "C"})
		mkdirFile(t, filepath.Join(j.input, "caf\xe9", "d.txt"), "D")
		stdout, stderr, code := j.run(3*time.Minute, nil, "--mini-batch-size", "2")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
		}
		if got, want := j.file("parallel_run_step.txt"), "a.txt A\nbad\xffname.txt B\nc.txt C\nd.txt D\n"; got != want {
			t.Errorf("rows %q, want %q", got, want)
		}
		if !strings.Contains(stdout, "items: 4 succeeded, 0 failed") {
			t.Errorf("summary:\n%s", stdout)
		}
	})
	t.Run("partition value", func(t *testing.T) {
		j := newLocalJob(t, `
import os

def run(mini_batch, mini_batch_context):
    user = mini_batch_context.partition_key_value["user"]
    return ["%s %s %s" % (user, os.path.basename(p), os.path.basename(os.path.dirname(p)) == user) for p in mini_batch]
`, nil)
		for _, f := range []string{"ann/1.txt", "ann/2.txt", "b\xffb/3.txt"} {
			mkdirFile(t, filepath.Join(j.input, f), "x")
		}
		stdout, stderr, code := j.run(3*time.Minute, nil, "--partition-keys", "user", "--partition-format", "/{user}/{name}.txt")
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
		}
		if got, want := j.file("parallel_run_step.txt"), "ann 1.txt True\nann 2.txt True\nb\xffb 3.txt True\n"; got != want {
			t.Errorf("rows %q, want %q", got, want)
		}
	})
	t.Run("table", func(t *testing.T) {
		j := newLocalJob(t, `
def run(mini_batch):
    return mini_batch
`, map[string]string{"t\xff.csv": "id,name\n1,caf\xe9\n2,plain\n"})
		stdout, stderr, code := j.run(3*time.Minute, nil, "--input-format", "csv", "--interpreter", pandastest.Python(t))
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, stdout, tail(stderr, 3000))
		}
		if got, want := j.file("parallel_run_step.txt"), "1 caf\xe9\n2 plain\n"; got != want {
			t.Errorf("rows %q, want %q\n%s%s", got, want, stdout, j.logs("logs/user/error"))
		}
	})
}

// mkdirFile writes content to path, making its folder.
func mkdirFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
