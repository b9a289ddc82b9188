package integration

import (
	"context"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// digitsExpected reads examples/digits/expected.csv: file, prediction and
// label of each held-out digit, in digits.csv's order.
func digitsExpected(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("../examples/digits/expected.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 2 {
		t.Fatal("expected.csv is empty")
	}
	return recs[1:]
}

// textRows parses "<id>: <label>" rows into a map, failing on a row seen
// twice.
func textRows(t *testing.T, path string) (map[string]string, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		id, pred, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("row %q is not '<id>: <label>'", line)
		}
		if _, dup := got[id]; dup {
			t.Fatalf("%s has two rows", id)
		}
		got[id] = pred
		order = append(order, id)
	}
	return got, order
}

// checkDigits checks a digits job's rows: one per held-out digit, in
// expected.csv's order, each the generator's prediction; accuracy >= 0.9.
func checkDigits(t *testing.T, rowsFile string) {
	t.Helper()
	got, order := textRows(t, rowsFile)
	recs := digitsExpected(t)
	if len(got) != len(recs) || len(order) != len(recs) {
		t.Fatalf("%d rows, want %d", len(order), len(recs))
	}
	right := 0
	for i, r := range recs {
		file, pred, label := r[0], r[1], r[2]
		if order[i] != file {
			t.Fatalf("row %d is %s, want %s (input order)", i, order[i], file)
		}
		if got[file] != pred {
			t.Errorf("%s: predicted %s, the generator predicted %s", file, got[file], pred)
		}
		if got[file] == label {
			right++
		}
	}
	if acc := float64(right) / float64(len(recs)); acc < 0.9 {
		t.Fatalf("accuracy %.3f < 0.9", acc)
	} else {
		t.Logf("accuracy %.4f over %d held-out digits", acc, len(recs))
	}
}

// runExample runs `prs run --config CONFIG --output OUT` from the
// repository root with the ONNX Runtime library and returns its output.
func runExample(t *testing.T, config, out string) string {
	t.Helper()
	lib := ortLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "run", "--config", config, "--output", out)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "PRS_ORT_LIB="+lib)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prs run: %v\n%s", err, tail(string(b), 4000))
	}
	return string(b)
}

// TestDigitsTabularThroughPrsRun scores the held-out digits from
// digits.csv with the ONNX handler's kind tabular through `prs run`, from
// the repository root with the example's own configuration: all 360 rows
// once, each named by its file column, every prediction the generator's,
// accuracy >= 0.9.
func TestDigitsTabularThroughPrsRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "digits-tabular")
	if log := runExample(t, "examples/digits/job-tabular.yaml", out); !strings.Contains(log, "items: 360 succeeded, 0 failed") {
		t.Fatalf("the summary lacks 360 succeeded items:\n%s", tail(log, 3000))
	}
	checkDigits(t, filepath.Join(out, "parallel_run_step.txt"))
}

// TestDigitsTabularBadValuesFailAlone: rows of digits.csv whose pixel is
// not a number or missing fail alone, named in the summary by their id;
// the other rows are scored.
func TestDigitsTabularBadValuesFailAlone(t *testing.T) {
	lib := ortLib(t)
	dir := t.TempDir()
	src, err := os.ReadFile("../examples/digits/digits.csv")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(src), "\n"), "\n")
	// Rows 10 and 200 (1-based, after the header): p3 becomes "x", p60 empty.
	bad := map[int]string{}
	for _, n := range []int{10, 200} {
		f := strings.Split(lines[n], ",")
		bad[n] = f[0]
		if n == 10 {
			f[2+3] = "x"
		} else {
			f[2+60] = ""
		}
		lines[n] = strings.Join(f, ",")
	}
	table := filepath.Join(dir, "digits.csv")
	if err := os.WriteFile(table, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile("../examples/digits/job-tabular.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	s := strings.ReplaceAll(string(cfg), "examples/digits/", root+"/examples/digits/")
	s = strings.Replace(s, "input: "+root+"/examples/digits/digits.csv", "input: "+table, 1)
	s = strings.Replace(s, "error_threshold: 0", "error_threshold: 2", 1)
	if !strings.Contains(s, "input: "+table) || !strings.Contains(s, "error_threshold: 2") {
		t.Fatalf("cannot rewrite job-tabular.yaml:\n%s", s)
	}
	job := filepath.Join(dir, "job.yaml")
	if err := os.WriteFile(job, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	msg, code := prsRun(t, []string{"PRS_ORT_LIB=" + lib}, "run", "--config", job, "--output", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, tail(msg, 3000))
	}
	for _, w := range []string{"items: 358 succeeded, 2 failed", bad[10], `column \"p3\": \"x\" is not a number`} {
		if !strings.Contains(msg, w) {
			t.Errorf("output lacks %q:\n%s", w, tail(msg, 3000))
		}
	}
	got, _ := textRows(t, filepath.Join(out, "parallel_run_step.txt"))
	if len(got) != 358 {
		t.Fatalf("%d rows, want 358", len(got))
	}
	for _, r := range digitsExpected(t) {
		file, pred := r[0], r[1]
		if file == bad[10] || file == bad[200] {
			if _, ok := got[file]; ok {
				t.Errorf("bad row %s has a row", file)
			}
			continue
		}
		if got[file] != pred {
			t.Errorf("%s: predicted %q, the generator predicted %s", file, got[file], pred)
		}
	}
}
