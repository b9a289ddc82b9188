package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrsDebugShowsRowsOrTheTraceback(t *testing.T) {
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
	good := filepath.Join(dir, "good.py")
	os.WriteFile(good, []byte("import os\ndef init():\n    print('hello from init')\n\ndef run(mb):\n    return [os.path.basename(p).upper() for p in mb[:-1]]\n"), 0o644)
	bad := filepath.Join(dir, "bad.py")
	os.WriteFile(bad, []byte("def init():\n    pass\n\ndef helper(x):\n    return {}[x]\n\ndef run(mb):\n    return [helper(p) for p in mb]\n"), 0o644)

	out, code := prsRun(t, nil, "debug", "--entry-script", good, "--input", in, "--limit", "2")
	if code != 1 {
		t.Fatalf("a partial result: exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{"hello from init", "A.TXT\n", "2 items: 1 succeeded, 1 failed"} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
	out, code = prsRun(t, nil, "debug", "--entry-script", good, "--input", in, "--limit", "1", "--include", "c.txt")
	if code != 1 || !strings.Contains(out, "1 items: 0 succeeded, 1 failed") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, code = prsRun(t, nil, "debug", "--entry-script", bad, "--input", in)
	if code != 1 {
		t.Fatalf("a broken script: exit %d, want 1\n%s", code, out)
	}
	for _, w := range []string{"KeyError", "Traceback (most recent call last)", "in helper", "3 items: 0 succeeded, 3 failed"} {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}
