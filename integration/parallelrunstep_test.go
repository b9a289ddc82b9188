package integration

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/pandastest"
)

// The ParallelRunStep examples (examples/parallelrunstep), each run with
// its job.yaml from the repository root as a user would, on data and
// models that make_data.py makes; each output is checked row by row (or
// file by file).

// exampleData makes the examples' data and models in a temporary folder
// and returns it with the interpreter that runs them (numpy, pandas, PIL).
func exampleData(t *testing.T) (dir, py string) {
	t.Helper()
	py = pandastest.Python(t)
	if out, err := exec.Command(py, "-c", "import numpy, PIL").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import numpy and PIL (%v): run `go tool task pydeps`\n%s", py, err, out)
	}
	dir = t.TempDir()
	if out, err := exec.Command(py, "../examples/parallelrunstep/make_data.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("make_data.py: %v\n%s", err, out)
	}
	return dir, py
}

// runExample runs `prs run --config examples/parallelrunstep/NAME/job.yaml`
// with more flags from the repository root, and fails the test unless the
// job completes.
func (h *harness) runExample(name, py string, args ...string) string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args = append([]string{"run", "--config", "examples/parallelrunstep/" + name + "/job.yaml", "--interpreter", py}, args...)
	cmd := exec.CommandContext(ctx, prsBin, args...)
	cmd.Dir, cmd.Env = "..", h.env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		h.t.Fatalf("prs %v: %v\n%s", args, err, tail(string(out), 6000))
	}
	return string(out)
}

// finalRows reads a final file's lines from a local or S3 output.
func (h *harness) finalRows(output, name string) []string {
	h.t.Helper()
	s, ok := h.read(output, name)
	if !ok {
		h.t.Fatalf("no %s under %s", name, output)
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// userFiles lists an output's objects but prs's own (logs/, .prs/).
func (h *harness) userFiles(output string) []string {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), output, h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	var keys []string
	err = s.List(context.Background(), "", func(o objstore.ObjectInfo) error {
		if !strings.HasPrefix(o.Key, "logs/") && !strings.HasPrefix(o.Key, ".prs/") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return keys
}

func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestParallelRunStepMNIST: the file-dataset MNIST script, its model a
// folder found by Model.get_model_path, mini_batch_size "5" on two worker
// processes of two slots: one "{file}: {prediction}" row per image.
func TestParallelRunStepMNIST(t *testing.T) {
	h := newHarness(t)
	data, py := exampleData(t)
	out := filepath.Join(t.TempDir(), "out")
	h.runExample("mnist", py, "--input", filepath.Join(data, "mnist", "images"), "--output", out,
		"--model", "mnist-prs="+filepath.Join(data, "mnist", "model"))
	var want []string
	for i := range 30 {
		want = append(want, fmt.Sprintf("%d.png", i))
	}
	sort.Strings(want) // listing order: 0.png, 1.png, 10.png, ...
	for i, name := range want {
		n, _ := strconv.Atoi(strings.TrimSuffix(name, ".png"))
		want[i] = fmt.Sprintf("%s: %d", name, n%10)
	}
	sameRows(t, h.finalRows(out, "mnist_outputs.txt"), want)
}

// TestParallelRunStepIris: the tabular iris script, a pickled model found
// by Model.get_model_path from --model_name, a DataFrame returned per
// mini-batch, written as ParallelRunStep writes it.
func TestParallelRunStepIris(t *testing.T) {
	h := newHarness(t)
	data, py := exampleData(t)
	out := filepath.Join(t.TempDir(), "out")
	h.runExample("iris", py, "--input", filepath.Join(data, "iris", "data"), "--output", out,
		"--model", "iris-prs="+filepath.Join(data, "iris", "iris_model.pkl"))
	varieties := []string{"Setosa", "Versicolor", "Virginica"}
	var want []string
	for f := range 3 {
		recs := readCSV(t, filepath.Join(data, "iris", "data", fmt.Sprintf("iris-%d.csv", f)))
		for r, rec := range recs[1:] {
			want = append(want, strings.Join(rec, " ")+" "+varieties[(f*20+r)%3])
		}
	}
	sameRows(t, h.finalRows(out, "iris_outputs.txt"), want)
}

// TestParallelRunStepPartitionByFolder: partition_format and
// partition_keys on S3; each user/genres folder is one mini-batch, whose
// rows name its values, and whose output_dir file lands under
// <user>/<genres>/ (partition_key_value in the order of partition_keys).
func TestParallelRunStepPartitionByFolder(t *testing.T) {
	h := newHarness(t)
	data, py := exampleData(t)
	root := filepath.Join(data, "partition_folder", "dataset_partition_test")
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.putFile("songs/"+filepath.ToSlash(rel), p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := h.s3("songs-out")
	h.runExample("partition_folder", py, "--input", h.s3("songs"), "--output", out)
	sameRows(t, h.finalRows(out, "file_size_outputs.txt"), []string{
		"piano.wav,400,1.0,chunyu,piano,400",
		"disco.wav,100,0.3333333333333333,halit,disco,300",
		"disco.wav,200,0.6666666666666666,halit,disco,300",
		"orchestra.wav,300,1.0,halit,orchestra,300",
		"spirituality.wav,500,1.0,kin,spirituality,500",
		"piano.wav,600,1.0,ramandeep,piano,600",
	})
	totals := map[string]string{"chunyu/piano": "400", "halit/disco": "300", "halit/orchestra": "300", "kin/spirituality": "500", "ramandeep/piano": "600"}
	want := []string{"file_size_outputs.txt"}
	for k, total := range totals {
		key := k + "/total_file_size.txt"
		want = append(want, key)
		if s, ok := h.read(out, key); !ok || s != total+"\n" {
			t.Errorf("%s: %q (present %v), want %q", key, s, ok, total)
		}
	}
	sort.Strings(want)
	if got := h.userFiles(out); !slices.Equal(got, want) {
		t.Errorf("output files %q, want %q", got, want)
	}

	// prs debug runs the first group, with its context.
	cmd := exec.Command(prsBin, "debug", "--config", "examples/parallelrunstep/partition_folder/job.yaml", "--input", root, "--interpreter", py)
	cmd.Dir, cmd.Env = "..", h.env()
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("prs debug: %v\n%s", err, stdout.String())
	}
	for _, line := range []string{"mini-batch of 1 files: [chunyu/2019/piano.wav]",
		`mini_batch_context.partition_key_value: {"user":"chunyu","genres":"piano"}`, "(the first of 5 partition_keys groups)",
		"piano.wav,400,1.0,chunyu,piano,400"} {
		if !strings.Contains(stdout.String(), line+"\n") {
			t.Errorf("prs debug does not say %q:\n%s", line, stdout.String())
		}
	}
}

// pyFloat writes a float as Python's str() does for these values.
func pyFloat(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// TestParallelRunStepPartitionByColumn: tabular partition_keys Store (an
// integer column) and Brand; the script keeps the rows that equal
// partition_key_value, which holds only when each value has its column's
// type, and returns them with their total income.
func TestParallelRunStepPartitionByColumn(t *testing.T) {
	h := newHarness(t)
	data, py := exampleData(t)
	out := filepath.Join(t.TempDir(), "out")
	input := filepath.Join(data, "partition_column", "oj.csv")
	h.runExample("partition_column", py, "--input", input, "--output", out)
	recs := readCSV(t, input)[1:]
	var groups []string
	rows, totals := map[string][][]string{}, map[string]float64{}
	for _, r := range recs {
		g := r[1] + "/" + r[2]
		if _, ok := rows[g]; !ok {
			groups = append(groups, g)
		}
		rows[g] = append(rows[g], r)
		income, _ := strconv.ParseFloat(r[3], 64)
		totals[g] += income
	}
	var want []string
	for _, g := range groups {
		for _, r := range rows[g] {
			want = append(want, strings.Join(r, " ")+" "+pyFloat(totals[g]))
		}
	}
	if len(groups) != 4 || len(want) != 16 {
		t.Fatalf("the test data: %d groups, %d rows", len(groups), len(want))
	}
	sameRows(t, h.finalRows(out, "revenue_outputs.txt"), want)
}

// flakyTransform wraps the style-transfer script: the first attempt at
// frames 00, 03, 06 and 09 fails after transform.run() wrote the styled
// frame, having spoiled it and written a file of its own.
const flakyTransform = `import argparse
import os

import transform


def init():
    global state
    transform.init()
    p = argparse.ArgumentParser()
    p.add_argument("--state")
    state = p.parse_known_args()[0].state


def run(mini_batch):
    result = transform.run(mini_batch)
    name = os.path.basename(mini_batch[0])
    marker = os.path.join(state, name)
    if int(name[6:8]) % 3 == 0 and not os.path.exists(marker):
        open(marker, "w").close()
        with open(os.path.join(transform.output_path, name), "wb") as f:
            f.write(b"not the styled frame")
        open(os.path.join(transform.output_path, "failed-" + name + ".txt"), "w").close()
        raise RuntimeError("forced failure after writing " + name)
    return result
`

// TestParallelRunStepStyleTransfer: the summary_only style-transfer
// script, its style model an s3:// object, input and output on S3, four
// frames failing their first attempt after writing: every styled frame is
// in the output exactly once, from the attempt that counted, and no file
// of a failed attempt is.
func TestParallelRunStepStyleTransfer(t *testing.T) {
	h := newHarness(t)
	data, py := exampleData(t)
	frames := filepath.Join(data, "style_transfer", "images")
	entries, err := os.ReadDir(frames)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		h.putFile("frames/"+e.Name(), filepath.Join(frames, e.Name()))
	}
	h.putFile("models/mosaic.npy", filepath.Join(data, "style_transfer", "mosaic.npy"))
	src := t.TempDir()
	example, err := os.ReadFile("../examples/parallelrunstep/style_transfer/transform.py")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "transform.py", example)
	writeFile(t, src, "flaky.py", []byte(flakyTransform))
	state := t.TempDir()
	out := h.s3("styled")
	log := h.runExample("style_transfer", py, "--input", h.s3("frames"), "--output", out, "--model", "mosaic="+h.s3("models/mosaic.npy"),
		"--source-directory", src, "--entry-script", "flaky.py", "--", "--style", "mosaic", "--state", state)
	if !strings.Contains(log, "4 retried") {
		t.Errorf("the job did not retry the four frames:\n%s", tail(log, 3000))
	}
	var want []string
	for _, e := range entries {
		want = append(want, e.Name())
	}
	if got := h.userFiles(out); !slices.Equal(got, want) {
		t.Fatalf("output files %q, want each frame once: %q", got, want)
	}
	for _, name := range want {
		in := decodePNG(t, mustRead(t, filepath.Join(frames, name)))
		s, _ := h.read(out, name)
		styled := decodePNG(t, []byte(s))
		if !mosaic(in, styled) {
			t.Errorf("%s is not its frame in the mosaic style (a failed attempt's file?)", name)
		}
	}
	if _, ok := h.read(out, contracts.DefaultConfig().AppendRowFileName); ok {
		t.Error("a summary_only job wrote a final file")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG (%v): %.40q", err, b)
	}
	return img
}

// mosaic reports whether styled is in's pixels in the mosaic style: red
// and blue swapped.
func mosaic(in, styled image.Image) bool {
	if in.Bounds() != styled.Bounds() {
		return false
	}
	b := in.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := in.At(x, y).RGBA()
			r2, g2, bl2, _ := styled.At(x, y).RGBA()
			if r2 != bl || g2 != g || bl2 != r {
				return false
			}
		}
	}
	return true
}

// isolatingTransform wraps the style-transfer script: a run() that fails
// leaves a file of its own beside the frames it styled before failing.
const isolatingTransform = `import os

import transform


def init():
    transform.init()


def run(mini_batch):
    try:
        return transform.run(mini_batch)
    except Exception:
        names = "+".join(os.path.basename(p) for p in mini_batch)
        open(os.path.join(transform.output_path, "failed-" + names + ".txt"), "w").close()
        raise
`

// TestParallelRunStepStyleTransferIsolated: the style-transfer script in
// mini-batches of 4 with isolate_failures, one frame not a PNG at all. The
// failing mini-batch is run again in halves, each part with output_dir
// emptied: the 11 good frames are styled in the output exactly once (the
// corrupt frame's neighbours from the parts that returned), and no file
// that a failed run() (the whole mini-batch's or a part's) wrote is.
func TestParallelRunStepStyleTransferIsolated(t *testing.T) {
	h := newHarness(t)
	data, py := exampleData(t)
	frames := filepath.Join(data, "style_transfer", "images")
	const corrupt = "frame-05.png"
	if err := os.WriteFile(filepath.Join(frames, corrupt), []byte("not a PNG"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	example, err := os.ReadFile("../examples/parallelrunstep/style_transfer/transform.py")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, src, "transform.py", example)
	writeFile(t, src, "isolating.py", []byte(isolatingTransform))
	out := filepath.Join(t.TempDir(), "styled")
	log := h.runExample("style_transfer", py, "--input", frames, "--output", out,
		"--model", "mosaic="+filepath.Join(data, "style_transfer", "mosaic.npy"),
		"--source-directory", src, "--entry-script", "isolating.py", "--mini-batch-size", "4",
		"--run-max-try", "1", "--isolate-failures", "true")
	if !strings.Contains(log, "1 failed") {
		t.Errorf("the job does not say that one item failed:\n%s", tail(log, 3000))
	}
	entries, err := os.ReadDir(frames)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		if e.Name() != corrupt {
			want = append(want, e.Name())
		}
	}
	if got := h.userFiles(out); !slices.Equal(got, want) {
		t.Fatalf("output files %q, want each good frame once: %q", got, want)
	}
	for _, name := range want {
		s, _ := h.read(out, name)
		if !mosaic(decodePNG(t, mustRead(t, filepath.Join(frames, name))), decodePNG(t, []byte(s))) {
			t.Errorf("%s is not its frame in the mosaic style", name)
		}
	}
}
