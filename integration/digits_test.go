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

// ortLib is the ONNX Runtime library the tests use: $PRS_ORT_LIB, else the
// one `go tool task ort` installs.
func ortLib(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PRS_ORT_LIB")
	if p == "" {
		p, _ = filepath.Abs("../lib/libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no ONNX Runtime library at %s: run `go tool task ort` or set PRS_ORT_LIB", p)
	}
	return p
}

// TestDigitsThroughPrsRun scores the held-out digits with the ONNX handler
// through `prs run`, from the repository root with the example's own
// configuration: every prediction equals the generator's, accuracy >= 0.9.
func TestDigitsThroughPrsRun(t *testing.T) {
	lib := ortLib(t)
	out := filepath.Join(t.TempDir(), "digits")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "run", "--config", "examples/digits/job.yaml", "--output", out)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "PRS_ORT_LIB="+lib)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prs run: %v\n%s", err, tail(string(b), 4000))
	}
	rows, err := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(rows)), "\n") {
		name, pred, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("row %q is not '<file>: <label>'", line)
		}
		got[name] = pred
		order = append(order, name)
	}
	f, err := os.Open("../examples/digits/expected.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	recs = recs[1:]
	if len(got) != len(recs) || len(order) != len(recs) {
		t.Fatalf("%d rows, want %d", len(order), len(recs))
	}
	right := 0
	for i, r := range recs {
		file, pred, label := r[0], r[1], r[2]
		if order[i] != file {
			t.Fatalf("row %d is %s, want %s (listing order)", i, order[i], file)
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
