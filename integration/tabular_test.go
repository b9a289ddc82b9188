package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/objstore"
	"github.com/parallelrun/prs/internal/pandastest"
)

// tableName is row id's name column: plain, or with quoted commas and
// quotes, or with a quoted line break.
func tableName(id int) string {
	switch {
	case id%7 == 0:
		return fmt.Sprintf(`a, "b" %d`, id)
	case id%11 == 0:
		return fmt.Sprintf("line one\nline two %d", id)
	}
	return "n" + strconv.Itoa(id)
}

type tableRow struct {
	ID   int64  `parquet:"id"`
	Name string `parquet:"name"`
}

// writeTables writes the three test inputs into dir: a CSV of csvRows rows
// with quoted commas and line breaks, a JSON Lines file and a Parquet file
// with one row group.
func writeTables(t *testing.T, dir string, csvRows, jsonlRows, parquetRows int) {
	t.Helper()
	for _, sub := range []string{"csv", "jsonl", "parquet"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"id", "name"})
	for i := range csvRows {
		_ = w.Write([]string{strconv.Itoa(i), tableName(i)})
	}
	w.Flush()
	if err := os.WriteFile(filepath.Join(dir, "csv", "table.csv"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	for i := range jsonlRows {
		line, _ := json.Marshal(map[string]any{"id": i, "name": tableName(i)})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "jsonl", "table.jsonl"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "parquet", "table.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	pw := parquet.NewGenericWriter[tableRow](f, parquet.MaxRowsPerRowGroup(int64(parquetRows)+1))
	rows := make([]tableRow, parquetRows)
	for i := range rows {
		rows[i] = tableRow{ID: int64(i), Name: tableName(i)}
	}
	if _, err := pw.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := pw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	pf := openParquet(t, f.Name())
	if n := len(pf.RowGroups()); n != 1 {
		t.Fatalf("the Parquet input has %d row groups, want 1", n)
	}
}

func openParquet(t *testing.T, path string) *parquet.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

// tableJob writes a job configuration for testdata/table.py and returns its path.
func tableJob(t *testing.T, py, input, output string, extra ...string) string {
	t.Helper()
	script, _ := filepath.Abs("testdata/table.py")
	s := fmt.Sprintf("input: %s\noutput: %s\nentry_script: %s\ninterpreter: %s\nallow_reuse: false\noutput_format: jsonl\n",
		input, output, script, py)
	s += strings.Join(extra, "\n") + "\n"
	p := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// runTable runs a job with `prs run` and returns its output and exit code.
func (h *harness) runTable(job string, args ...string) (string, int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, append([]string{"run", "--config", job}, args...)...)
	cmd.Env = h.env()
	b, _ := cmd.CombinedOutput()
	return string(b), cmd.ProcessState.ExitCode()
}

// outRow is one row of testdata/table.py's output (output_format jsonl).
type outRow struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	User string `json:"user"`
	Call string `json:"call"`
	PKV  string `json:"pkv"`
}

func (h *harness) outRows(output, name string) []outRow {
	h.t.Helper()
	s, ok := h.read(output, name)
	if !ok {
		h.t.Fatalf("no %s under %s", name, output)
	}
	var rows []outRow
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r outRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			h.t.Fatalf("output row %q: %v", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return rows
}

// miniBatches counts the distinct mini-batches in the job's attempt report.
func (h *harness) miniBatches(output string) int {
	h.t.Helper()
	s, ok := h.read(output, contracts.LogReport)
	if !ok {
		h.t.Fatalf("no %s under %s", contracts.LogReport, output)
	}
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		h.t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range recs[1:] {
		seen[r[0]] = true
	}
	return len(seen)
}

// TestTabularPiecesHoldEveryRowOnce splits a CSV with quoted commas and line
// breaks, a JSON Lines file and a single-row-group Parquet file at 64KB, 1MB
// and a size larger than each file, on MinIO and on a local folder: every
// input row reaches the output exactly once, intact, and the number of
// mini-batches follows the size rule.
func TestTabularPiecesHoldEveryRowOnce(t *testing.T) {
	h := newHarness(t)
	py := pandastest.Python(t)
	data := t.TempDir()
	const csvRows, jsonlRows, parquetRows = 200_000, 60_000, 100_000
	writeTables(t, data, csvRows, jsonlRows, parquetRows)
	for _, sub := range []string{"csv/table.csv", "jsonl/table.jsonl", "parquet/table.parquet"} {
		h.putFile("tables/"+sub, filepath.Join(data, sub))
	}
	pf := openParquet(t, filepath.Join(data, "parquet", "table.parquet"))
	rgSize := pf.Metadata().RowGroups[0].TotalByteSize
	if c := pf.Metadata().RowGroups[0].TotalCompressedSize; c > 0 {
		rgSize = c
	}
	for _, tc := range []struct {
		file  string
		rows  int
		input string
	}{
		{"csv/table.csv", csvRows, "csv"},
		{"jsonl/table.jsonl", jsonlRows, "jsonl"},
		{"parquet/table.parquet", parquetRows, "parquet"},
	} {
		st, err := os.Stat(filepath.Join(data, tc.file))
		if err != nil {
			t.Fatal(err)
		}
		size := st.Size()
		for _, store := range []string{"local", "s3"} {
			for _, mbs := range []struct {
				text  string
				bytes int64
			}{{"64KB", 64 << 10}, {"1MB", 1 << 20}, {"1GB", 1 << 30}} {
				name := fmt.Sprintf("%s/%s/%s", tc.input, store, mbs.text)
				t.Run(name, func(t *testing.T) {
					input, output := filepath.Join(data, tc.input), filepath.Join(t.TempDir(), "out")
					if store == "s3" {
						input, output = h.s3("tables/"+tc.input), h.s3("out/"+strings.ReplaceAll(name, "/", "-"))
					}
					job := tableJob(t, py, input, output, "input_format: auto", "mini_batch_size: "+mbs.text)
					out, code := h.runTable(job)
					if code != 0 {
						t.Fatalf("prs run exited %d:\n%s", code, tail(out, 3000))
					}
					rows := h.outRows(output, "parallel_run_step.jsonl")
					seen := make([]int, tc.rows)
					for _, r := range rows {
						if r.ID < 0 || r.ID >= int64(tc.rows) {
							t.Fatalf("row id %d out of range", r.ID)
						}
						seen[r.ID]++
						if r.Name != tableName(int(r.ID)) {
							t.Fatalf("row %d: name %q, want %q", r.ID, r.Name, tableName(int(r.ID)))
						}
					}
					for id, n := range seen {
						if n != 1 {
							t.Fatalf("row %d appears %d times", id, n)
						}
					}
					// The size rule: ceil(S/P) pieces, or one fewer when the
					// last grid position falls inside the last record; a
					// single row group of B stored bytes gives ceil(B/P).
					got := h.miniBatches(output)
					want := (size + mbs.bytes - 1) / mbs.bytes
					lo := want - 1
					if tc.input == "parquet" {
						want = min((rgSize+mbs.bytes-1)/mbs.bytes, int64(tc.rows))
						if size <= mbs.bytes {
							want = 1
						}
						lo = want
					}
					if int64(got) < max(lo, 1) || int64(got) > want {
						t.Fatalf("%d mini-batches for %d bytes at %s, want %d..%d", got, size, mbs.text, max(lo, 1), want)
					}
					t.Logf("%s: %d bytes, %d rows in %d mini-batches", name, size, tc.rows, got)
				})
			}
		}
	}
}

// TestPartitionKeysTabular groups the rows of two CSV files by user: no
// user's rows are split over two run() calls, each call's
// partition_key_value names its rows' user, and every row arrives once.
func TestPartitionKeysTabular(t *testing.T) {
	h := newHarness(t)
	py := pandastest.Python(t)
	data := t.TempDir()
	users := 0
	id := 0
	for f := range 2 {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write([]string{"id", "user", "name"})
		for range 3000 {
			u := fmt.Sprintf("u%02d", (id*7+f)%23)
			_ = w.Write([]string{strconv.Itoa(id), u, tableName(id)})
			id++
		}
		w.Flush()
		h.putFile(fmt.Sprintf("part/t%d.csv", f), writeFile(t, data, fmt.Sprintf("t%d.csv", f), b.Bytes()))
	}
	users = 23
	output := h.s3("part-out")
	job := tableJob(t, py, h.s3("part"), output, "input_format: csv", "mini_batch_size: 4KB", "partition_keys: [user]")
	out, code := h.runTable(job)
	if code != 0 {
		t.Fatalf("prs run exited %d:\n%s", code, tail(out, 3000))
	}
	rows := h.outRows(output, "parallel_run_step.jsonl")
	if len(rows) != id {
		t.Fatalf("%d rows, want %d", len(rows), id)
	}
	callOf, userOf := map[string]string{}, map[string]string{}
	seen := map[int64]bool{}
	for _, r := range rows {
		if seen[r.ID] {
			t.Fatalf("row %d twice", r.ID)
		}
		seen[r.ID] = true
		if c, ok := callOf[r.User]; ok && c != r.Call {
			t.Fatalf("user %s in two mini-batches (%s, %s)", r.User, c, r.Call)
		}
		callOf[r.User] = r.Call
		if u, ok := userOf[r.Call]; ok && u != r.User {
			t.Fatalf("mini-batch %s holds users %s and %s", r.Call, u, r.User)
		}
		userOf[r.Call] = r.User
		if want := fmt.Sprintf(`{"user": "%s"}`, r.User); r.PKV != want {
			t.Fatalf("row %d: partition_key_value %s, want %s", r.ID, r.PKV, want)
		}
		if r.Name != tableName(int(r.ID)) {
			t.Fatalf("row %d: name %q", r.ID, r.Name)
		}
	}
	if len(callOf) != users || h.miniBatches(output) != users {
		t.Fatalf("%d users in %d calls, %d mini-batches; want %d each", len(callOf), len(userOf), h.miniBatches(output), users)
	}
}

// TestPartitionKeysByFolder gives each user/genre folder its own
// mini-batch; partition_key_value matches the paths of its files.
func TestPartitionKeysByFolder(t *testing.T) {
	h := newHarness(t)
	py := pandastest.Python(t)
	data := t.TempDir()
	n := 0
	for _, u := range []string{"ann", "bob", "cy"} {
		for _, g := range []string{"jazz", "rock"} {
			for i := range 5 + len(u) {
				h.putFile(fmt.Sprintf("songs/%s/%s/s%d.wav", u, g, i), writeFile(t, data, "x.wav", []byte("RIFF")))
				n++
			}
		}
	}
	output := h.s3("songs-out")
	script, _ := filepath.Abs("testdata/table.py")
	job := filepath.Join(t.TempDir(), "job.yaml")
	yaml := fmt.Sprintf("input: %s\noutput: %s\nentry_script: %s\ninterpreter: %s\nallow_reuse: false\nmini_batch_size: 2\n"+
		"partition_keys: [user, genre]\npartition_format: /{user}/{genre}/{filename}.wav\narguments: [--mode, files]\n",
		h.s3("songs"), output, script, py)
	if err := os.WriteFile(job, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := h.runTable(job)
	if code != 0 {
		t.Fatalf("prs run exited %d:\n%s", code, tail(out, 3000))
	}
	rows := h.rows(output)
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	groupCall := map[string]string{}
	for _, r := range rows {
		call, rest, _ := strings.Cut(r, " ")
		i := strings.LastIndex(rest, " ")
		var pkv map[string]string
		if err := json.Unmarshal([]byte(rest[:i]), &pkv); err != nil {
			t.Fatalf("row %q: %v", r, err)
		}
		parts := strings.Split(filepath.ToSlash(rest[i+1:]), "/")
		user, genre := parts[len(parts)-3], parts[len(parts)-2]
		if pkv["user"] != user || pkv["genre"] != genre {
			t.Fatalf("row %q: partition_key_value %v does not match the path", r, pkv)
		}
		if c, ok := groupCall[user+"/"+genre]; ok && c != call {
			t.Fatalf("%s/%s in two mini-batches", user, genre)
		}
		groupCall[user+"/"+genre] = call
	}
	if len(groupCall) != 6 || h.miniBatches(output) != 6 {
		t.Fatalf("%d groups, %d mini-batches; want 6", len(groupCall), h.miniBatches(output))
	}
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTabularBadInput: a truncated Parquet file, a binary file named .csv
// and a size like 12XB are refused before anything is written; a ragged CSV
// row is one failed item, named with its row; an interpreter without
// pandas fails at init with a message that says how to install it.
func TestTabularBadInput(t *testing.T) {
	h := newHarness(t)
	py := pandastest.Python(t)
	data := t.TempDir()
	writeTables(t, data, 100, 10, 50)
	full, err := os.ReadFile(filepath.Join(data, "parquet", "table.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		content    []byte
		extra      []string
		want       string
	}{
		{"truncated parquet", "t.parquet", full[:len(full)/2], nil, "not a readable Parquet file"},
		{"binary csv", "b.csv", append([]byte("id,name\n1,a\n"), 0, 1, 2, 0xff, 0), nil, "NUL byte"},
		{"size 12XB", "ok.csv", []byte("id,name\n1,a\n"), []string{"mini_batch_size: 12XB"}, `"12XB"`},
		{"group over partition_max_size", "g.csv", []byte("id,user\n" + strings.Repeat("1,u\n", 600)),
			[]string{"partition_keys: [user]", "partition_max_size: 1KB"}, "partition: group too large"},
		{"ragged row under partition_keys", "p.csv", []byte("id,user\n1,u\n2,u,x\n"),
			[]string{"partition_keys: [user]"}, "row 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "in")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, tc.file, tc.content)
			output := filepath.Join(t.TempDir(), "out")
			out, code := h.runTable(tableJob(t, py, filepath.Join(dir, tc.file), output, tc.extra...))
			if code != 2 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want 2 with %q:\n%s", code, tc.want, tail(out, 2000))
			}
			if _, err := os.Stat(output); !os.IsNotExist(err) {
				t.Fatalf("the output %s was written: %v", output, err)
			}
			t.Logf("%s: %s", tc.name, errorLine(out))
		})
	}

	t.Run("ragged row", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "r.csv", []byte("id,name\n0,n0\n1,n1\n2,n2,extra\n3,n3\n4\n5,n5\n"))
		output := filepath.Join(t.TempDir(), "out")
		out, code := h.runTable(tableJob(t, py, filepath.Join(dir, "r.csv"), output))
		if code != 0 {
			t.Fatalf("prs run exited %d:\n%s", code, tail(out, 3000))
		}
		rows := h.outRows(output, "parallel_run_step.jsonl")
		if len(rows) != 4 {
			t.Fatalf("%d rows, want 4 (0, 1, 3, 5)", len(rows))
		}
		overview, _ := h.read(output, contracts.LogOverview)
		if !strings.Contains(overview, "4 succeeded, 2 failed") || !strings.Contains(overview, "1 done (1 succeeded, 0 failed)") {
			t.Fatalf("overview does not count 4 rows succeeded, 2 failed, in a mini-batch that did not fail:\n%s", overview)
		}
		summary, _ := h.read(output, contracts.LogErrorSummary)
		if !strings.Contains(summary, "2 of 6 items failed; first: r.csv: row 3: tabular: wrong number of fields") {
			t.Errorf("the error summary does not name the first bad row:\n%s", summary)
		}
		details := h.readAll(output, "logs/user/error/")
		for _, want := range []string{"r.csv: row 3: tabular: wrong number of fields: 3 fields", "r.csv: row 5: tabular: wrong number of fields: 1 fields"} {
			if !strings.Contains(details, want) {
				t.Errorf("the error details do not hold %q:\n%s", want, details)
			}
		}
	})

	t.Run("no pandas", func(t *testing.T) {
		// The pandas interpreter with a pandas package that cannot be
		// imported put first on its path.
		blocked := t.TempDir()
		writeFile(t, mkdir(t, filepath.Join(blocked, "pandas")), "__init__.py", []byte("raise ImportError(\"No module named 'pandas'\")\n"))
		bare := writeFile(t, t.TempDir(), "python-without-pandas", []byte("#!/bin/sh\nPYTHONPATH="+blocked+" exec "+py+" \"$@\"\n"))
		if err := os.Chmod(bare, 0o755); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		writeFile(t, dir, "ok.csv", []byte("id,name\n1,a\n"))
		output := filepath.Join(t.TempDir(), "out")
		out, _ := h.runTable(tableJob(t, bare, filepath.Join(dir, "ok.csv"), output, "run_max_try: 1"))
		errs, _ := h.read(output, contracts.LogErrorSummary)
		if !strings.Contains(out+errs, "cannot import pandas") || !strings.Contains(out+errs, "python3-pandas") {
			t.Fatalf("no clear pandas error:\n%s\n%s", tail(out, 2000), errs)
		}
	})
}

// errorLine is prs's error line in a command's output ("prs: ..."), else
// its last line.
func errorLine(s string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "prs: ") {
			return line
		}
	}
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readAll concatenates the objects under prefix.
func (h *harness) readAll(uri, prefix string) string {
	h.t.Helper()
	s, err := objstore.Open(context.Background(), uri, h.s3Options())
	if err != nil {
		h.t.Fatal(err)
	}
	var b strings.Builder
	err = s.List(context.Background(), prefix, func(o objstore.ObjectInfo) error {
		text, _ := h.read(uri, o.Key)
		b.WriteString(text)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return b.String()
}

// TestTabularExample runs the README's tabular example from the repository
// root: one CSV row per input row, in input order, with the right totals.
func TestTabularExample(t *testing.T) {
	py := pandastest.Python(t)
	out := filepath.Join(t.TempDir(), "tabular")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, prsBin, "run", "--config", "examples/tabular/job.yaml", "--output", out, "--interpreter", py)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prs run: %v\n%s", err, tail(string(b), 4000))
	}
	f, err := os.Open(filepath.Join(out, "parallel_run_step.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"id", "total"}}
	in, err := os.ReadFile("../examples/tabular/data/sales.csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(in)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	total := func(price string, qty float64) string {
		p, _ := strconv.ParseFloat(price, 64)
		return strconv.FormatFloat(float64(int64(p*qty*100+0.5))/100, 'f', -1, 64)
	}
	for _, r := range recs[1:] {
		q, _ := strconv.ParseFloat(r[3], 64)
		want = append(want, []string{r[0], total(r[2], q)})
	}
	in, err = os.ReadFile("../examples/tabular/data/sales.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(in)), "\n") {
		var r struct {
			ID       int     `json:"id"`
			Price    float64 `json:"price"`
			Quantity float64 `json:"quantity"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatal(err)
		}
		want = append(want, []string{strconv.Itoa(r.ID), total(strconv.FormatFloat(r.Price, 'f', -1, 64), r.Quantity)})
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i][0] != want[i][0] {
			t.Fatalf("line %d: id %s, want %s (input order)", i, got[i][0], want[i][0])
		}
		g, _ := strconv.ParseFloat(got[i][1], 64)
		w, _ := strconv.ParseFloat(want[i][1], 64)
		if i > 0 && (g-w > 0.011 || w-g > 0.011) {
			t.Fatalf("line %d: total %s, want %s", i, got[i][1], want[i][1])
		}
	}
}
