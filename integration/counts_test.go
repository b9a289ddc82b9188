package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// prs debug counts a script that returns more rows than files as a worker
// does: every row shown, each file succeeded once, the extra rows noted.
func TestPrsDebugCountsExtraRowsOnce(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		if err := os.WriteFile(filepath.Join(in, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	py := filepath.Join(dir, "twice.py")
	if err := os.WriteFile(py, []byte("import os\ndef init():\n    pass\n\ndef run(mb):\n    return [os.path.basename(p) + s for p in mb for s in ('', '!')]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := prsRun(t, nil, "debug", "--entry-script", py, "--input", in)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (every file succeeded)\n%s", code, out)
	}
	for _, w := range []string{"it returned 6 rows:", "a.txt\na.txt!\n", "c.txt!\n",
		"note: run() returned 6 rows for 3 items; the 3 extra rows are kept", "3 items: 3 succeeded, 0 failed"} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}
