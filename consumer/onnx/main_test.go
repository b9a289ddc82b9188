package onnx

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/syncbuf"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testLibrary is the ONNX Runtime library of the tests: $PRS_ORT_LIB, else
// the one `go tool task ort` installs. Without it the test fails, with the
// install hint.
func testLibrary(t testing.TB) string {
	t.Helper()
	p := os.Getenv(LibraryEnv)
	if p == "" {
		p, _ = filepath.Abs("../../lib/libonnxruntime.so.1")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal((&LibraryError{Path: p, Err: err}).Error())
	}
	return p
}

const digitsDir = "../../examples/digits"

// digitsConfig is examples/digits/job.yaml's onnx section, with
// model_batch_size left to its default.
func digitsConfig() *contracts.ONNXConfig {
	return &contracts.ONNXConfig{
		Model:      filepath.Join(digitsDir, "model.onnx"),
		InputName:  "pixels",
		OutputName: "logits",
		Labels:     filepath.Join(digitsDir, "labels.txt"),
		Preprocess: contracts.Preprocess{
			Kind: "image", Mode: "grayscale", Resize: "none", Size: []int{8, 8},
			Scale: 1.0 / 255, Layout: "nchw", DType: "float32",
		},
		Postprocess: contracts.Postprocess{Kind: "argmax", Format: "text"},
	}
}

// testBundle is what a handler test needs: a job on the digits model and
// the handler's logs.
type testBundle struct {
	cfg  *contracts.ONNXConfig
	env  *consumer.JobEnv
	lib  string
	logs *syncbuf.Buffer
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	b := &testBundle{cfg: digitsConfig(), lib: testLibrary(t), logs: &syncbuf.Buffer{}}
	job := &contracts.Job{ID: "job-1", Config: contracts.DefaultConfig()}
	job.Config.Handler = contracts.HandlerONNX
	job.Config.ONNX = b.cfg
	b.env = &consumer.JobEnv{
		Job: job, Model: b.cfg.Model, Labels: b.cfg.Labels,
		WorkDir: t.TempDir(), Worker: "worker-a", Slot: 1,
	}
	return b
}

// handler builds and inits the bundle's handler, closed when the test ends.
func (b *testBundle) handler(t testing.TB) consumer.Handler {
	t.Helper()
	h, err := b.newHandler(t)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := h.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return h
}

// newHandler builds the bundle's handler without Init.
func (b *testBundle) newHandler(t testing.TB) (consumer.Handler, error) {
	t.Helper()
	h, err := New(b.env, Options{Library: b.lib, Logger: slog.New(slog.NewTextHandler(b.logs, nil))})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h, nil
}

// initErr builds the bundle's handler and returns the error of its Init,
// which must be a *consumer.InitError.
func (b *testBundle) initErr(t *testing.T) error {
	t.Helper()
	h, err := b.newHandler(t)
	if err != nil {
		return err
	}
	err = h.Init(t.Context())
	if err == nil {
		t.Fatal("Init succeeded")
	}
	var ie *consumer.InitError
	if !errors.As(err, &ie) {
		t.Fatalf("Init's error %v (%T) is no *consumer.InitError", err, err)
	}
	return err
}

// digit is one line of examples/digits/expected.csv.
type digit struct{ file, prediction, label string }

func expected(t testing.TB) []digit {
	t.Helper()
	recs := readDigits(t, "expected.csv")
	var ds []digit
	for _, r := range recs[1:] {
		ds = append(ds, digit{r[0], r[1], r[2]})
	}
	if len(ds) == 0 {
		t.Fatal("expected.csv is empty")
	}
	return ds
}

func digitPaths(ds []digit) []string {
	ps := make([]string, len(ds))
	for i, d := range ds {
		ps[i] = filepath.Join(digitsDir, "images", d.file)
	}
	return ps
}

func batch(paths ...string) *consumer.Batch {
	return &consumer.Batch{JobID: "job-1", Index: 7, Attempt: 1, Paths: paths}
}

// run runs b within a minute and fails the test on an error.
func run(t testing.TB, h consumer.Handler, b *consumer.Batch) consumer.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := h.Run(ctx, b)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// texts returns text rows as their strings.
func texts(t testing.TB, res consumer.Result) []string {
	t.Helper()
	var out []string
	s := strings.TrimSuffix(string(consumer.FormatRows(res.Rows)), "\n")
	if s != "" {
		out = strings.Split(s, "\n")
	}
	if len(out) != len(res.Rows) {
		t.Fatalf("%d rows print as %d lines", len(res.Rows), len(out))
	}
	return out
}

func mustContain(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", subs)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not contain %q:\n%v", s, err)
		}
	}
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
