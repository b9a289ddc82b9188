package onnx

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/parallelrun/prs/consumer"
	"github.com/parallelrun/prs/contracts"
)

// digitsColumns are digits.csv's feature columns, p0..p63.
func digitsColumns() []string {
	cols := make([]string, 64)
	for i := range cols {
		cols[i] = "p" + strconv.Itoa(i)
	}
	return cols
}

// tabularSetup is setup with examples/digits/digits.csv as the job's input
// and preprocess kind tabular on its 64 pixel columns, rows named by
// idColumn ("" for none).
func tabularSetup(t testing.TB, idColumn string) *testBundle {
	t.Helper()
	b := setup(t)
	b.env.Job.Config.Input = "examples/digits/digits.csv"
	b.cfg.Preprocess = contracts.Preprocess{Kind: "tabular", Columns: digitsColumns(), IDColumn: idColumn}
	return b
}

// digitsTable reads digits.csv as its header and records.
func digitsTable(t testing.TB) ([]string, [][]string) {
	t.Helper()
	recs := readDigits(t, "digits.csv")
	return recs[0], recs[1:]
}

// csvTable is a CSV table as the runtime hands it over: the header and
// the records, re-encoded.
func csvTable(t testing.TB, header []string, recs [][]string) *consumer.Table {
	t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(header); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAll(recs); err != nil {
		t.Fatal(err)
	}
	return &consumer.Table{Format: "csv", Columns: header, CSV: buf.Bytes(), Rows: len(recs)}
}

// jsonTable is the records as JSON objects (format jsonl or parquet): the
// pixels are JSON numbers, and in every third row (or where they are no
// JSON numbers) strings holding them.
func jsonTable(t testing.TB, format string, header []string, recs [][]string) *consumer.Table {
	t.Helper()
	tb := &consumer.Table{Format: format, Rows: len(recs)}
	if format == "parquet" {
		tb.Columns = header
	}
	for i, r := range recs {
		var b []byte
		b = append(b, '{')
		for j, h := range header {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, h)
			b = append(b, ':')
			if strings.HasPrefix(h, "p") && i%3 != 0 && json.Valid([]byte(r[j])) {
				b = append(b, r[j]...)
			} else {
				b = strconv.AppendQuote(b, r[j])
			}
		}
		b = append(b, '}')
		if !json.Valid(b) {
			t.Fatalf("row %d: %s is not JSON", i, b)
		}
		tb.Records = append(tb.Records, b)
	}
	return tb
}

func tableBatch(tb *consumer.Table) *consumer.Batch {
	return &consumer.Batch{JobID: "job-1", Index: 7, Attempt: 1, Items: []contracts.Item{{Key: "digits.csv"}}, Table: tb}
}

// TestTabularCSVMatchesExpected scores digits.csv's 360 rows in one
// mini-batch with several model batch sizes: each row is "<file>:
// <label>" in row order, every prediction is the generator's, and
// accuracy is at least 0.9. Without id_column the rows are the labels
// alone.
func TestTabularCSVMatchesExpected(t *testing.T) {
	t.Parallel()
	ds := expected(t)
	header, recs := digitsTable(t)
	if len(recs) != len(ds) {
		t.Fatalf("digits.csv has %d rows, expected.csv %d", len(recs), len(ds))
	}
	for _, size := range []int{0, 7, 500} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			b := tabularSetup(t, "file")
			b.cfg.ModelBatchSize = size
			h := b.handler(t)
			for _, n := range []int{len(recs), 45, 1} {
				res := run(t, h, tableBatch(csvTable(t, header, recs[:n])))
				if len(res.ItemErrors) != 0 {
					t.Fatalf("item errors: %v", res.ItemErrors)
				}
				rows := texts(t, res)
				if len(rows) != n {
					t.Fatalf("%d rows for %d", len(rows), n)
				}
				right := 0
				for i, d := range ds[:n] {
					if want := d.file + ": " + d.prediction; rows[i] != want {
						t.Errorf("row %d is %q, want %q", i, rows[i], want)
					}
					if d.prediction == d.label {
						right++
					}
				}
				if acc := float64(right) / float64(n); n == len(ds) && acc < 0.9 {
					t.Errorf("accuracy %.4f < 0.9", acc)
				}
			}
		})
	}

	b := tabularSetup(t, "")
	rows := texts(t, run(t, b.handler(t), tableBatch(csvTable(t, header, recs))))
	for i, d := range ds {
		if rows[i] != d.prediction {
			t.Fatalf("without id_column row %d is %q, want %q", i, rows[i], d.prediction)
		}
	}
}

// TestTabularJSONRecords scores JSON Lines and Parquet records, whose
// pixels are JSON numbers or strings holding numbers, into json rows: with
// id_column they carry "id", without it no name at all.
func TestTabularJSONRecords(t *testing.T) {
	t.Parallel()
	ds := expected(t)
	header, recs := digitsTable(t)
	for _, format := range []string{"jsonl", "parquet"} {
		for _, id := range []string{"file", ""} {
			b := tabularSetup(t, id)
			b.cfg.ModelBatchSize = 16
			b.cfg.Postprocess = contracts.Postprocess{Kind: "argmax", Format: "json", Softmax: true}
			res := run(t, b.handler(t), tableBatch(jsonTable(t, format, header, recs)))
			if len(res.ItemErrors) != 0 || len(res.Rows) != len(ds) {
				t.Fatalf("%s, id %q: %d rows, item errors %v", format, id, len(res.Rows), res.ItemErrors)
			}
			for i, d := range ds {
				var r map[string]any
				mustUnmarshal(t, res.Rows[i], &r)
				if r["label"] != d.prediction || r["score"].(float64) <= 0.1 {
					t.Fatalf("%s, id %q: row %d is %s, want label %s", format, id, i, res.Rows[i], d.prediction)
				}
				_, hasID := r["id"]
				_, hasFile := r["file"]
				if hasFile || hasID != (id != "") || (id != "" && r["id"] != d.file) {
					t.Fatalf("%s, id %q: row %d is %s", format, id, i, res.Rows[i])
				}
			}
		}
	}
}

// TestTabularBadRowsFailAlone puts values that are missing or not numbers
// among good rows, in CSV and in JSON: each such row fails alone with an
// ItemError that names it, the others get their rows in order.
func TestTabularBadRowsFailAlone(t *testing.T) {
	t.Parallel()
	ds := expected(t)[:40]
	header, all := digitsTable(t)
	recs := make([][]string, 40)
	for i := range recs {
		recs[i] = slices.Clone(all[i])
	}
	col := func(name string) int { return slices.Index(header, name) }
	// index in the mini-batch -> what its error says
	bad := map[int]string{
		0:  `column "p5": "abc" is not a number`,
		3:  `column "p0" has no value`,
		17: `column "p63": "NaN" is not a number`,
		30: `column "p10": "1e999" is out of range`,
		39: `id column "file" has no value`,
	}
	recs[0][col("p5")] = "abc"
	recs[3][col("p0")] = ""
	recs[17][col("p63")] = "NaN"
	recs[30][col("p10")] = "1e999"
	recs[39][col("file")] = ""
	check := func(t *testing.T, what string, res consumer.Result, idOf func(i int) string) {
		t.Helper()
		if len(res.ItemErrors) != len(bad) {
			t.Fatalf("%s: item errors %v, want %d", what, res.ItemErrors, len(bad))
		}
		for _, ie := range res.ItemErrors {
			i := -1
			for k := range bad {
				name := fmt.Sprintf("row %d of the mini-batch", k+1)
				if id := idOf(k); id != "" {
					name = id + " (" + name + ")"
				}
				if ie.Item == "digits.csv: "+name {
					i = k
				}
			}
			if ie.Index != -1 || i < 0 {
				t.Fatalf("%s: item error %+v names no bad row", what, ie)
			}
			if !strings.Contains(ie.Err, bad[i]) {
				t.Errorf("%s: row %d: error %q does not contain %q", what, i, ie.Err, bad[i])
			}
		}
		rows := texts(t, res)
		var want []string
		for i, d := range ds {
			if _, ok := bad[i]; !ok {
				want = append(want, d.file+": "+d.prediction)
			}
		}
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: rows\n%s\nwant\n%s", what, strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
	}
	for _, size := range []int{32, 5} {
		b := tabularSetup(t, "file")
		b.cfg.ModelBatchSize = size
		h := b.handler(t)
		check(t, fmt.Sprintf("csv, model_batch_size %d", size), run(t, h, tableBatch(csvTable(t, header, recs))),
			func(i int) string { return recs[i][col("file")] })

		// JSON: the same values, and a missing key, null, true and an
		// object where numbers belong.
		tb := jsonTable(t, "jsonl", header, recs)
		jbad := map[int]string{
			5:  `column "p7" has no value`,
			6:  `column "p8" has no value`,
			22: `column "p9": "true" is not a number`,
			23: `column "p1": "{\"v\":1}" is not a number`,
		}
		edit := func(i int, from, to string) {
			s := strings.Replace(string(tb.Records[i]), from, to, 1)
			if s == string(tb.Records[i]) || !json.Valid([]byte(s)) {
				t.Fatalf("cannot edit row %d: %s", i, s)
			}
			tb.Records[i] = json.RawMessage(s)
		}
		edit(5, `,"p7":`, `,"q7":`)
		edit(6, `"p8":`, `"p8":null,"x":`)
		edit(22, `"p9":`, `"p9":true,"x":`)
		edit(23, `"p1":`, `"p1":{"v":1},"x":`)
		for k, v := range jbad {
			bad[k] = v
		}
		check(t, fmt.Sprintf("jsonl, model_batch_size %d", size), run(t, h, tableBatch(tb)),
			func(i int) string { return recs[i][col("file")] })
		for k := range jbad {
			delete(bad, k)
		}
	}

	// Without id_column a row is named by its place alone.
	b := tabularSetup(t, "")
	recs[39][col("file")] = "digit-0000.png"
	delete(bad, 39)
	res := run(t, b.handler(t), tableBatch(csvTable(t, header, recs)))
	if len(res.ItemErrors) != len(bad) || len(res.Rows) != 40-len(bad) {
		t.Fatalf("without id_column: %d rows, item errors %v", len(res.Rows), res.ItemErrors)
	}
	if ie := res.ItemErrors[0]; ie.Item != "digits.csv: row 1 of the mini-batch" || ie.Index != -1 {
		t.Fatalf("without id_column: %+v", ie)
	}
}

// TestTabularTableErrors: a table without a feature or the id column, and
// a mini-batch of the wrong kind, fail the mini-batch with an InputError
// that says what is wrong.
func TestTabularTableErrors(t *testing.T) {
	t.Parallel()
	header, recs := digitsTable(t)
	b := tabularSetup(t, "name")
	h := b.handler(t)
	var se *consumer.ScriptError
	_, err := h.Run(t.Context(), tableBatch(csvTable(t, header, recs[:3])))
	if !errors.As(err, &se) || se.Type != "InputError" {
		t.Fatalf("no id column: %v (%T)", err, err)
	}
	mustContain(t, err, "digits.csv", `no column "name" (onnx.preprocess.id_column)`, "its columns: file, label, p0")

	b = tabularSetup(t, "")
	b.cfg.Preprocess.Columns[3] = "q3"
	h = b.handler(t)
	for _, tb := range []*consumer.Table{csvTable(t, header, recs[:3]), jsonTable(t, "parquet", header, recs[:3])} {
		_, err = h.Run(t.Context(), tableBatch(tb))
		if !errors.As(err, &se) || se.Type != "InputError" {
			t.Fatalf("%s without q3: %v (%T)", tb.Format, err, err)
		}
		mustContain(t, err, `no column "q3" of onnx.preprocess.columns`)
	}
	// JSON Lines has no schema: each row fails alone.
	res := run(t, h, tableBatch(jsonTable(t, "jsonl", header, recs[:3])))
	if len(res.Rows) != 0 || len(res.ItemErrors) != 3 || !strings.Contains(res.ItemErrors[0].Err, `column "q3" has no value`) {
		t.Fatalf("jsonl without q3: %+v", res)
	}

	_, err = h.Run(t.Context(), batch(digitPaths(expected(t)[:2])...))
	mustContain(t, err, "kind tabular scores the rows of a tabular input, but mini-batch 7 holds 2 files")
	img := setup(t).handler(t)
	_, err = img.Run(t.Context(), tableBatch(csvTable(t, header, recs[:2])))
	mustContain(t, err, "holds 2 rows of a table: set onnx.preprocess.kind tabular")

	empty := run(t, h, tableBatch(&consumer.Table{Format: "csv"}))
	if len(empty.Rows) != 0 || len(empty.ItemErrors) != 0 {
		t.Fatalf("an empty table gave %+v", empty)
	}
}

// TestTabularSettingsErrors: columns that do not fill the model input, no
// columns, and a kind that does not fit the input are refused before any
// row is read, by New, Init and Check, naming the key and both numbers.
func TestTabularSettingsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(b *testBundle)
		is     error
		want   []string
	}{
		{"too few columns", func(b *testBundle) { b.cfg.Preprocess.Columns = b.cfg.Preprocess.Columns[:10] }, ErrMismatch,
			[]string{"onnx.preprocess.columns", "has 10 columns", `model input "pixels" [-1 1 8 8] takes 64 values per row`}},
		{"no columns", func(b *testBundle) { b.cfg.Preprocess.Columns = nil }, contracts.ErrInvalid,
			[]string{"onnx.preprocess.columns", "is required with kind tabular"}},
		{"mean", func(b *testBundle) { b.cfg.Preprocess.Mean = []float64{1, 2} }, ErrMismatch,
			[]string{"onnx.preprocess.mean", "has 2 values for 64 columns"}},
		{"dtype", func(b *testBundle) { b.cfg.Preprocess.DType = "uint8" }, ErrMismatch,
			[]string{"onnx.preprocess.dtype", "holds float32"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := tabularSetup(t, "file")
			tc.change(b)
			err := b.initErr(t)
			mustContain(t, err, tc.want...)
			if !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			err = Check(t.Context(), b.cfg, "", b.lib)
			mustContain(t, err, tc.want...)
			var fe *contracts.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, tc.is) {
				t.Errorf("Check: %v (%T)", err, err)
			}
		})
	}

	// An image kind on a tabular input is refused by New.
	b := tabularSetup(t, "")
	b.cfg.Preprocess.Kind = "npy"
	_, err := b.newHandler(t)
	mustContain(t, err, "onnx.preprocess.kind", `kind "npy" scores files, but input "examples/digits/digits.csv" is tabular: use kind tabular`)
}

// TestTabularCheck: Check accepts the digits example's tabular settings.
func TestTabularCheck(t *testing.T) {
	t.Parallel()
	b := tabularSetup(t, "file")
	if err := Check(t.Context(), b.cfg, "", b.lib); err != nil {
		t.Fatalf("Check: %v", err)
	}
}

// TestTabularPlan resolves kind tabular against model inputs of other
// shapes and types, without the library: one dynamic dimension takes what
// the columns leave; scale, mean and std apply per column; a uint8 input
// takes whole numbers in 0..255.
func TestTabularPlan(t *testing.T) {
	t.Parallel()
	out := []ort.InputOutputInfo{{Name: "y", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeFloat, Dimensions: ort.Shape{-1, 2}}}
	input := func(dt ort.TensorElementDataType, dims ...int64) []ort.InputOutputInfo {
		return []ort.InputOutputInfo{{Name: "x", OrtValueType: ort.ONNXTypeTensor, DataType: dt, Dimensions: dims}}
	}
	cfg := func(cols int) *contracts.ONNXConfig {
		c := &contracts.ONNXConfig{Preprocess: contracts.Preprocess{Kind: "tabular"}}
		for i := range cols {
			c.Preprocess.Columns = append(c.Preprocess.Columns, fmt.Sprintf("c%d", i))
		}
		return c
	}
	var f32 ort.TensorElementDataType = ort.TensorElementDataTypeFloat
	for _, tc := range []struct {
		dims []int64
		cols int
		item []int64
		err  string
	}{
		{[]int64{-1, 6}, 6, []int64{6}, ""},
		{[]int64{-1, -1}, 5, []int64{5}, ""},
		{[]int64{-1, 2, -1}, 6, []int64{2, 3}, ""},
		{[]int64{4, 3}, 3, []int64{3}, ""},
		{[]int64{-1, 2, -1}, 5, nil, "takes a multiple of 2 values per row"},
		{[]int64{-1, -1, -1}, 5, nil, "more than one dynamic dimension"},
		{[]int64{-1, 2, 3}, 5, nil, "has 5 columns, but model input \"x\" [-1 2 3] takes 6 values per row"},
	} {
		p, err := newPlan(cfg(tc.cols), "m.onnx", input(f32, tc.dims...), out)
		if tc.err != "" {
			mustContain(t, err, tc.err, "onnx.preprocess.columns")
			continue
		}
		if err != nil {
			t.Fatalf("%v with %d columns: %v", tc.dims, tc.cols, err)
		}
		if !slices.Equal(p.item, tc.item) || p.itemLen != tc.cols || p.rowKey != "" {
			t.Errorf("%v with %d columns: item %v of %d values, row key %q", tc.dims, tc.cols, p.item, p.itemLen, p.rowKey)
		}
	}

	c := cfg(2)
	c.Preprocess.Scale, c.Preprocess.Mean, c.Preprocess.Std = 2, []float64{1, 2}, []float64{4, 0.5}
	p, err := newPlan(c, "m.onnx", input(f32, -1, 2), out)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 2)
	if err := p.putValue(0, " 3.5 ", v, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.putValue(1, "-1", v, nil); err != nil {
		t.Fatal(err)
	}
	if want := []float32{1.5, -8}; !slices.Equal(v, want) { // (3.5*2-1)/4, (-1*2-2)/0.5
		t.Errorf("values %v, want %v", v, want)
	}
	mustContain(t, p.putValue(0, "1e39", v, nil), "out of float32's range")
	mustContain(t, p.putValue(0, "Inf", v, nil), `"Inf" is not a number`)

	// The identity parses the text straight to float32.
	p, err = newPlan(cfg(1), "m.onnx", input(f32, -1, 1), out)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.putValue(0, "0.1", v, nil); err != nil || v[0] != float32(0.1) || !p.identity {
		t.Errorf("0.1 became %v (%v), identity %v", v[0], err, p.identity)
	}
	mustContain(t, p.putValue(0, "1e39", v, nil), `"1e39" is out of range`)

	var u8 ort.TensorElementDataType = ort.TensorElementDataTypeUint8
	c = cfg(3)
	c.Preprocess.Scale = 255
	p, err = newPlan(c, "m.onnx", input(u8, -1, 3), out)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]uint8, 3)
	for i, s := range []string{"0", "0.5", "1"} {
		if err := p.putValue(i, s, nil, b); err != nil {
			t.Fatal(err)
		}
	}
	if want := []uint8{0, 128, 255}; !slices.Equal(b, want) {
		t.Errorf("uint8 values %v, want %v", b, want)
	}
	mustContain(t, p.putValue(0, "1.1", nil, b), "gives 280.5, out of uint8's 0..255")
	mustContain(t, p.putValue(0, "-0.01", nil, b), "out of uint8's 0..255")
	if p.identity {
		t.Error("scale 255 is no identity")
	}
}

// TestTabularValidate: contracts' validation of a job with handler onnx
// refuses kind tabular on files, an image or npy kind on a tabular input,
// and kind tabular without columns, each naming its key (it lives in
// contracts; it is tested here, beside the handler that relies on it).
func TestTabularValidate(t *testing.T) {
	t.Parallel()
	job := func(input string, pre contracts.Preprocess) *contracts.Config {
		c := contracts.DefaultConfig()
		c.Handler, c.Input, c.Output = contracts.HandlerONNX, input, "out"
		c.ONNX = &contracts.ONNXConfig{Model: "model.onnx", Preprocess: pre}
		return &c
	}
	tab := contracts.Preprocess{Kind: "tabular", Columns: []string{"a", "b"}, IDColumn: "id"}
	if err := job("data/table.csv", tab).Validate(); err != nil {
		t.Fatalf("tabular job: %v", err)
	}
	withFormat := job("data/", tab)
	withFormat.InputFormat = "jsonl"
	if err := withFormat.Validate(); err != nil {
		t.Fatalf("tabular job with input_format: %v", err)
	}
	for _, tc := range []struct {
		name  string
		c     *contracts.Config
		field string
		want  string
	}{
		{"tabular on files", job("images/", tab), "onnx.preprocess.kind", `kind tabular scores the rows of a tabular input, but input "images/" is files`},
		{"image on a table", job("data/table.csv", contracts.Preprocess{}), "onnx.preprocess.kind", "use kind tabular"},
		{"npy on a table", job("data/table.parquet", contracts.Preprocess{Kind: "npy"}), "onnx.preprocess.kind", "kind npy scores files"},
		{"no columns", job("t.csv", contracts.Preprocess{Kind: "tabular"}), "onnx.preprocess.columns", "is required with kind tabular"},
		{"blank column", job("t.csv", contracts.Preprocess{Kind: "tabular", Columns: []string{"a", " "}}), "onnx.preprocess.columns", "column 1 has no name"},
		{"std", job("t.csv", contracts.Preprocess{Kind: "tabular", Columns: []string{"a", "b", "c"}, Std: []float64{1, 2}}), "onnx.preprocess.std", "2 values for 3 columns"},
		{"kind", job("t.csv", contracts.Preprocess{Kind: "table"}), "onnx.preprocess.kind", "must be one of image, npy, tabular"},
	} {
		err := tc.c.Validate()
		var fe *contracts.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, contracts.ErrInvalid) {
			t.Errorf("%s: %v, want a FieldError on %s", tc.name, err, tc.field)
			continue
		}
		mustContain(t, err, tc.want)
	}
}

// BenchmarkDigitsTabular scores digits.csv's 360 rows in one mini-batch at
// model batch size 32, from CSV and from JSON records, and reports rows/s
// of the handler's whole Run (parsing, ORT, rows).
func BenchmarkDigitsTabular(b *testing.B) {
	header, recs := digitsTable(b)
	for _, format := range []string{"csv", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			bundle := tabularSetup(b, "file")
			h := bundle.handler(b)
			tb := csvTable(b, header, recs)
			if format == "jsonl" {
				tb = jsonTable(b, format, header, recs)
			}
			bt := tableBatch(tb)
			ctx := b.Context()
			b.ResetTimer()
			for range b.N {
				res, err := h.Run(ctx, bt)
				if err != nil || len(res.Rows) != len(recs) {
					b.Fatalf("Run: %d rows, %v", len(res.Rows), err)
				}
			}
			b.ReportMetric(float64(len(recs)*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
