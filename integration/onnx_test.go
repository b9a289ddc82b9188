package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// digitsJob writes a job configuration for the digits model with the given
// replacements of the example's lines, and returns its path.
func digitsJob(t *testing.T, input, output string, replace map[string]string) string {
	t.Helper()
	b, err := os.ReadFile("../examples/digits/job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	s := strings.ReplaceAll(string(b), "examples/digits/", root+"/examples/digits/")
	s = strings.Replace(s, "input: "+root+"/examples/digits/images", "input: "+input, 1)
	s = strings.Replace(s, "output: out/digits", "output: "+output, 1)
	for old, new := range replace {
		if !strings.Contains(s, old) {
			t.Fatalf("job.yaml has no %q", old)
		}
		s = strings.Replace(s, old, new, 1)
	}
	p := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func prsRun(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, args...)
	cmd.Env = append(os.Environ(), env...)
	b, _ := cmd.CombinedOutput()
	return string(b), cmd.ProcessState.ExitCode()
}

func TestONNXBadSettingsAreRefusedBeforeAnythingIsWritten(t *testing.T) {
	lib := ortLib(t)
	images, _ := filepath.Abs("../examples/digits/images")
	notONNX := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(notONNX, []byte("this is not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("..")
	for _, tc := range []struct {
		name    string
		replace map[string]string
		env     []string
		want    []string
	}{
		{"model that is not ONNX", map[string]string{"model: " + root + "/examples/digits/model.onnx": "model: " + notONNX}, nil, []string{notONNX}},
		{"wrong input name", map[string]string{"input_name: pixels": "input_name: image"}, nil, []string{"onnx.input_name", "image", "pixels"}},
		{"wrong mode", map[string]string{"mode: grayscale": "mode: rgb"}, nil, []string{"onnx.preprocess.mode"}},
		{"missing library", nil, []string{"PRS_ORT_LIB=/nonexistent/libonnxruntime.so.1"}, []string{"/nonexistent/libonnxruntime.so.1", "go tool task ort"}},
		{"cuda without a GPU", map[string]string{"model_batch_size: 16": "model_batch_size: 16\n  execution_provider: cuda"}, nil, []string{"cuda"}},
		{"tabular", map[string]string{"kind: image": "kind: tabular"}, nil, []string{"tabular"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			job := digitsJob(t, images, out, tc.replace)
			env := tc.env
			if env == nil {
				env = []string{"PRS_ORT_LIB=" + lib}
			}
			msg, code := prsRun(t, env, "run", "--config", job)
			if code != 2 {
				t.Fatalf("exit %d, want 2\n%s", code, tail(msg, 3000))
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("the error does not mention %q:\n%s", w, tail(msg, 3000))
				}
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Fatalf("the output was written (%v)", err)
			}
		})
	}
}

// A corrupt image fails alone: it is counted as a failed item, named in the
// summary, and the rest of its mini-batch is scored.
func TestONNXBadImagesFailAlone(t *testing.T) {
	lib := ortLib(t)
	in := t.TempDir()
	src, _ := filepath.Glob("../examples/digits/images/*.png")
	for _, p := range src[:30] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(in, "digit-0030-corrupt.png"), []byte("\x89PNG\r\n\x1a\nbroken"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	job := digitsJob(t, in, out, map[string]string{"error_threshold: 0": "error_threshold: 1"})
	msg, code := prsRun(t, []string{"PRS_ORT_LIB=" + lib}, "run", "--config", job)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, tail(msg, 3000))
	}
	for _, w := range []string{"items: 30 succeeded, 1 failed", "digit-0030-corrupt.png"} {
		if !strings.Contains(msg, w) {
			t.Fatalf("output lacks %q:\n%s", w, tail(msg, 3000))
		}
	}
	rows, _ := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
	if n := strings.Count(string(rows), "\n"); n != 30 {
		t.Fatalf("%d rows, want 30", n)
	}
}
