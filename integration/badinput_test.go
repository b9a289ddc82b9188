package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/objstore"
)

// TestBadInputIsRefusedBeforeAnythingIsWritten runs prs run with one
// problem at a time: each must exit 2 with a message naming the problem and
// leave the output untouched.
func TestBadInputIsRefusedBeforeAnythingIsWritten(t *testing.T) {
	h := newHarness(t)
	h.upload("in", 5)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.py", "def init():\n    pass\n\ndef run(mini_batch):\n    return mini_batch\n")
	broken := write("broken.py", "def init():\n    pass\n\ndef run(mini_batch)\n    return mini_batch\n")
	norun := write("norun.py", "def init():\n    pass\n\ndef score(mini_batch):\n    return mini_batch\n")
	localIn := filepath.Join(dir, "in")
	if err := os.MkdirAll(localIn, 0o755); err != nil {
		t.Fatal(err)
	}
	write("in/a.txt", "a")
	emptyIn := filepath.Join(dir, "empty")
	if err := os.MkdirAll(emptyIn, 0o755); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		args   []string
		env    []string
		output string // "" = a local folder per case
		want   []string
	}{
		{name: "missing entry script", args: []string{"--entry-script", filepath.Join(dir, "nope.py")}, want: []string{"entry_script", "nope.py"}},
		{name: "syntax error", args: []string{"--entry-script", broken}, want: []string{"entry_script", "broken.py", "line 4"}},
		{name: "no run()", args: []string{"--entry-script", norun}, want: []string{"entry_script", "run"}},
		{name: "mini batch size zero", args: []string{"--mini-batch-size", "0"}, want: []string{"mini_batch_size", "at least 1"}},
		{name: "mini batch size not a number", args: []string{"--mini-batch-size", "ten"}, want: []string{"mini_batch_size", "ten"}},
		{name: "error threshold below -1", args: []string{"--error-threshold", "-2"}, want: []string{"error_threshold"}},
		{name: "percent above 100", args: []string{"--allowed-failed-percent", "150"}, want: []string{"allowed_failed_percent"}},
		{name: "run max try zero", args: []string{"--run-max-try", "0"}, want: []string{"run_max_try"}},
		{name: "timeout zero", args: []string{"--run-invocation-timeout", "0"}, want: []string{"run_invocation_timeout"}},
		{name: "bad output action", args: []string{"--output-action", "append"}, want: []string{"output_action"}},
		{name: "empty input", args: []string{"--input", emptyIn}, want: []string{"input", "no files"}},
		{name: "missing input folder", args: []string{"--input", filepath.Join(dir, "absent")}, want: []string{"input", "absent"}},
		{name: "unknown config key", args: []string{"--config", write("bad.yaml", "mini_batch_sise: 3\n")}, want: []string{"mini_batch_sise", "did you mean mini_batch_size"}},
		{name: "misspelt key", args: []string{"--config", write("inputs.yaml", "inputs: [a]\n")}, want: []string{"inputs", "did you mean input?"}},
		{name: "timeout overflow", args: []string{"--run-invocation-timeout", "9223372036854775807"}, want: []string{"run_invocation_timeout", "too large, at most 259200"}},
		{name: "timeout overflow in YAML", args: []string{"--config", write("timeout.yaml", "run_invocation_timeout: 9223372036854775807\n")}, want: []string{"run_invocation_timeout", "too large, at most 259200"}},
		{name: "mini batch size huge", args: []string{"--mini-batch-size", "99999999999999999999"}, want: []string{"mini_batch_size", "too large, at most 10000"}},
		{name: "error threshold huge", args: []string{"--config", write("threshold.yaml", "error_threshold: 99999999999999999999\n")}, want: []string{"error_threshold", "too large, at most 2147483647"}},
		{name: "percent NaN", args: []string{"--config", write("nan.yaml", "allowed_failed_percent: .nan\n")}, want: []string{"allowed_failed_percent", "not a finite number"}},
		{name: "node count zero", args: []string{"--node-count", "0"}, want: []string{"node_count", "at least 1"}},
		{name: "unknown handler", args: []string{"--handler", "onnxx"}, want: []string{"handler", "entry_script, onnx", "did you mean onnx"}},
		{name: "unknown logging level", args: []string{"--logging-level", "LOUD"}, want: []string{"logging_level", "DEBUG, INFO, WARNING"}},
		{name: "unknown output format", args: []string{"--output-format", "xml"}, want: []string{"output_format", "csv, jsonl, parquet"}},
		{name: "unknown ONNX provider", args: []string{"--handler", "onnx", "--onnx-model", "m.onnx", "--onnx-execution-provider", "gpu"}, want: []string{"onnx.execution_provider", "cpu, cuda, tensorrt"}},
		{name: "a size for files", args: []string{"--mini-batch-size", "64KB"}, want: []string{"input_format", "a.txt"}},
		{name: "unreachable NATS", args: []string{"--nats", "nats://127.0.0.1:1"}, want: []string{"NATS", "127.0.0.1:1"}},
		{name: "missing bucket", args: []string{"--input", "s3://no-such-bucket-prs/in"}, want: []string{"input", "no-such-bucket-prs"}},
		{name: "wrong credentials", args: []string{"--input", h.s3("in")}, env: []string{"AWS_SECRET_ACCESS_KEY=wrong-secret"}, want: []string{"input", "access denied"}},
		{name: "unreachable S3", args: []string{"--input", h.s3("in"), "--s3-endpoint", "http://127.0.0.1:1"}, want: []string{"input", "127.0.0.1:1"}},
		{name: "S3 output with a missing bucket", args: nil, output: "s3://no-such-bucket-prs/out", want: []string{"output", "no-such-bucket-prs"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := tc.output
			if out == "" {
				out = filepath.Join(t.TempDir(), "out")
			}
			args := []string{"run", "--entry-script", good, "--input", localIn, "--output", out, "--ack-wait", "2s"}
			args = append(args, tc.args...)
			stdout, stderr, code := h.prsEnv(30*time.Second, tc.env, args...)
			if code != 2 {
				t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			msg := strings.ToLower(stderr)
			for _, w := range tc.want {
				if !strings.Contains(msg, strings.ToLower(w)) {
					t.Fatalf("error does not mention %q:\n%s", w, stderr)
				}
			}
			if !strings.HasPrefix(out, "s3://") {
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Fatalf("the output %s was written (%v)", out, err)
				}
			}
		})
	}
	// Nothing was written anywhere in the test bucket but the inputs.
	s, err := objstore.Open(context.Background(), h.s3(""), h.s3Options())
	if err != nil {
		t.Fatal(err)
	}
	_ = s.List(context.Background(), "", func(o objstore.ObjectInfo) error {
		if !strings.HasPrefix(o.Key, "in/") {
			t.Errorf("unexpected object %s", o.Key)
		}
		return nil
	})
}
