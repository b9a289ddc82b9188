package integration

import (
	"os"
	"path/filepath"
	"testing"
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
	out := filepath.Join(t.TempDir(), "digits")
	runExample(t, "examples/digits/job.yaml", out)
	checkDigits(t, filepath.Join(out, "parallel_run_step.txt"))
}
