package onnx

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/broker"
	"github.com/parallelrun/prs/internal/fleet"
	"github.com/parallelrun/prs/internal/ledger"
	"github.com/parallelrun/prs/producer"
)

// gatherModel is an ONNX model (IR 8, opset 13) whose input "x" float
// [N,2] picks, per item, the row max(x) of a 4x4 identity matrix: output
// "y" [N,4]. An item whose largest value is 4 or more makes ONNX Runtime
// refuse the whole batch (Gather's index out of bounds), whatever the
// other items: a batch that fails as a whole because of one item.
func gatherModel() []byte {
	nodes := [][]byte{
		pbNodeAttrs("ReduceMax", []string{"x"}, "m", pbAttrInts("axes", 1), pbAttrInt("keepdims", 0)),
		pbNodeAttrs("Cast", []string{"m"}, "idx", pbAttrInt("to", 7)), // INT64
		pbNode("Gather", []string{"table", "idx"}, "y"),
	}
	var graph []byte
	for _, n := range nodes {
		graph = append(graph, pbBytes(1, n)...)
	}
	graph = append(graph, pbBytes(2, []byte("gather"))...)
	identity := make([]float32, 16)
	for i := range 4 {
		identity[5*i] = 1
	}
	graph = append(graph, pbBytes(5, pbFloats("table", []int64{4, 4}, identity))...)
	graph = append(graph, pbBytes(11, pbValueInfo("x", -1, 2))...)
	graph = append(graph, pbBytes(12, pbValueInfo("y", -1, 4))...)
	var model []byte
	model = append(model, pbVarint(1, 8)...)
	model = append(model, pbBytes(8, append(pbBytes(1, nil), pbVarint(2, 13)...))...)
	return append(model, pbBytes(7, graph)...)
}

// pbNodeAttrs is a NodeProto with attributes.
func pbNodeAttrs(op string, inputs []string, output string, attrs ...[]byte) []byte {
	b := pbNode(op, inputs, output)
	for _, a := range attrs {
		b = append(b, pbBytes(5, a)...)
	}
	return b
}

// pbAttrInt and pbAttrInts are AttributeProtos of type INT and INTS.
func pbAttrInt(name string, v int64) []byte {
	return append(append(pbBytes(1, []byte(name)), pbVarint(3, uint64(v))...), pbVarint(20, 2)...)
}

func pbAttrInts(name string, vs ...int64) []byte {
	b := pbBytes(1, []byte(name))
	for _, v := range vs {
		b = append(b, pbVarint(8, uint64(v))...)
	}
	return append(b, pbVarint(20, 7)...)
}

// pbFloats is a float TensorProto of the given dimensions.
func pbFloats(name string, dims []int64, vs []float32) []byte {
	var b []byte
	for _, d := range dims {
		b = append(b, pbVarint(1, uint64(d))...)
	}
	b = append(b, pbVarint(2, 1)...) // FLOAT
	b = append(b, pbBytes(8, []byte(name))...)
	raw := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	return append(b, pbBytes(9, raw)...)
}

// gatherJob is a job of the gather model on a CSV table of 20 rows, id
// and a,b, whose rows with the given ids hold a 9 (the model refuses
// them), in one mini-batch, on its only try.
func gatherJob(t *testing.T, in, out, model string, bad map[int]bool, isolate bool) contracts.Config {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("id,a,b\n")
	for i := range 20 {
		a := i % 4
		if bad[i] {
			a = 9
		}
		fmt.Fprintf(&sb, "r%d,%d,0\n", i, a)
	}
	if err := os.WriteFile(filepath.Join(in, "data.csv"), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	c := contracts.DefaultConfig()
	c.Handler, c.Input, c.Output, c.InputFormat, c.MiniBatchSize = contracts.HandlerONNX, in, out, "csv", "1MB"
	c.AllowReuse, c.RunMaxTry, c.IsolateFailures = false, 1, isolate
	c.ONNX = &contracts.ONNXConfig{Model: model, InputName: "x", OutputName: "y",
		Preprocess:  contracts.Preprocess{Kind: "tabular", Columns: []string{"a", "b"}, IDColumn: "id"},
		Postprocess: contracts.Postprocess{Kind: "argmax", Format: "text"}}
	return c
}

// runJob runs c on a worker with the ONNX handler and returns the job's
// id, state and counters.
func runJob(t *testing.T, c contracts.Config) (string, contracts.JobState, contracts.Counters, *ledger.Ledger) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	f, err := fleet.Open(context.Background(), fleet.Config{
		Broker: broker.OpenConfig{Embedded: &broker.EmbeddedConfig{StoreDir: t.TempDir()}, Setup: broker.SetupConfig{AckWait: 2 * time.Second}},
		Worker: "test", Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	h, l := f.Handles, f.Ledger
	p, err := producer.New(producer.Config{Ledger: l, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	w, err := consumer.New(consumer.Config{Ledger: l, Slots: 1, PollWait: 100 * time.Millisecond, Logger: quiet,
		Handlers: map[string]consumer.HandlerFactory{contracts.HandlerONNX: Factory(Options{Library: testLibrary(t)})}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.Stop(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub, err := p.Submit(ctx, "", c)
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Follow(ctx, sub.Job.ID, 20*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("job did not end: %v", err)
	}
	cs, err := h.ReadCounters(ctx, sub.Job.ID)
	if err != nil {
		t.Fatal(err)
	}
	return sub.Job.ID, st, cs, l
}

// The ONNX handler where ONNX Runtime refuses a whole batch because of one
// row: without isolate_failures the mini-batch fails whole; with it the
// two bad rows fail alone, named by their rows in the file, and the others
// are scored, in order.
func TestIsolateFailuresOfAWholeONNXBatch(t *testing.T) {
	bad := map[int]bool{7: true, 13: true}
	model := writeFile(t, filepath.Join(t.TempDir(), "gather.onnx"), gatherModel())

	b := setup(t)
	b.cfg.Model, b.env.Model, b.cfg.Labels, b.env.Labels = model, model, "", ""
	b.cfg.InputName, b.cfg.OutputName = "x", "y"
	b.cfg.Preprocess = contracts.Preprocess{Kind: "tabular", Columns: []string{"a", "b"}, IDColumn: "id"}
	b.env.Job.Config.Input = "data.csv"
	h := b.handler(t)
	_, err := h.Run(t.Context(), tableBatch(csvTable(t, []string{"id", "a", "b"}, [][]string{{"r0", "1", "0"}, {"r1", "9", "0"}})))
	if err == nil {
		t.Fatal("the gather model scored a batch with an index out of bounds")
	}

	for _, isolate := range []bool{false, true} {
		t.Run(fmt.Sprint("isolate=", isolate), func(t *testing.T) {
			in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			id, st, cs, l := runJob(t, gatherJob(t, in, out, model, bad, isolate))
			if !isolate {
				if st.State != contracts.StateFailed || cs.ItemsFailed != 20 || cs.FailedBatches != 1 {
					t.Fatalf("state %+v counters %+v; want the whole mini-batch failed", st, cs)
				}
				return
			}
			if st.State != contracts.StateCompleted || cs.ItemsFailed != 2 || cs.ItemsSucceeded != 18 || cs.FailedBatches != 1 {
				t.Fatalf("state %+v counters %+v; want rows 7 and 13 failed alone", st, cs)
			}
			data, err := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range 20 {
				if !bad[i] {
					want = append(want, fmt.Sprintf("r%d: %d", i, i%4))
				}
			}
			if got := strings.TrimSuffix(string(data), "\n"); got != strings.Join(want, "\n") {
				t.Fatalf("rows:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
			}
			o, _, _, err := l.Outcome(context.Background(), id, 0)
			if err != nil || !strings.Contains(o.Error, "2 of 20 items failed; first: data.csv: row 8: ") {
				t.Fatalf("outcome %+v (%v)", o, err)
			}
		})
	}
}

// Files scored by the ONNX handler: a file that does not decode fails
// alone already, named in its own place once its part is run alone; the
// file that makes ONNX Runtime refuse its batch fails alone with
// isolate_failures; the others are scored, in order.
func TestIsolateFailuresOfONNXFiles(t *testing.T) {
	model := writeFile(t, filepath.Join(t.TempDir(), "gather.onnx"), gatherModel())
	in, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	var want []string
	for i := range 12 {
		name := fmt.Sprintf("f%02d.npy", i)
		v := []float32{float32(i % 4), 0}
		switch i {
		case 5:
			v[0] = 9
		case 8:
			v = []float32{1, 0, 0}
		default:
			want = append(want, fmt.Sprintf("%s: %d", name, i%4))
		}
		writeFile(t, filepath.Join(in, name), npyFile("<f4", []int{len(v)}, f32bytes(v)))
	}
	c := contracts.DefaultConfig()
	c.Handler, c.Input, c.Output, c.MiniBatchSize = contracts.HandlerONNX, in, out, "12"
	c.AllowReuse, c.RunMaxTry, c.IsolateFailures = false, 1, true
	c.ONNX = &contracts.ONNXConfig{Model: model, InputName: "x", OutputName: "y",
		Preprocess: contracts.Preprocess{Kind: "npy"}, Postprocess: contracts.Postprocess{Kind: "argmax", Format: "text"}}
	id, st, cs, l := runJob(t, c)
	if st.State != contracts.StateCompleted || cs.ItemsFailed != 2 || cs.ItemsSucceeded != 10 {
		t.Fatalf("state %+v counters %+v", st, cs)
	}
	data, err := os.ReadFile(filepath.Join(out, "parallel_run_step.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSuffix(string(data), "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("rows:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
	o, _, _, err := l.Outcome(context.Background(), id, 0)
	if err != nil || !strings.Contains(o.Error, "2 of 12 items failed; first: f05.npy: ONNXRuntimeError") {
		t.Fatalf("outcome %+v (%v)", o, err)
	}
}
