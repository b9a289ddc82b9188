package partition_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parallelrun/prs/contracts"
	"github.com/parallelrun/prs/internal/pandastest"
	"github.com/parallelrun/prs/internal/partition"
	"github.com/parallelrun/prs/internal/tabular"
)

// TestGroupValuesInOrderAndTyped: a group's Ordered values come in the
// order of the partition keys (not alphabetical) and typed as pandas
// types the key columns of the group's CSV.
func TestGroupValuesInOrderAndTyped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	src := b.put("oj.csv", tabular.CSV, csvData(
		[]string{"week", "Store", "Brand", "price", "flag"},
		[]string{"1", "1000", "tropicana", "2.0", "true"},
		[]string{"2", "1000", "tropicana", "2.0", "true"},
		[]string{"3", "007", "dominicks", "1e3", "False"},
		[]string{"4", "", "minute maid", "NA", "TRUE"},
	))
	for _, tc := range []struct {
		keys []string
		want []string
	}{
		{[]string{"Store", "Brand"}, []string{
			`{"Store":1000,"Brand":"tropicana"}`, `{"Store":7,"Brand":"dominicks"}`, `{"Store":null,"Brand":"minute maid"}`}},
		{[]string{"Brand", "Store"}, []string{
			`{"Brand":"tropicana","Store":1000}`, `{"Brand":"dominicks","Store":7}`, `{"Brand":"minute maid","Store":null}`}},
		{[]string{"price", "flag"}, []string{
			`{"price":2.0,"flag":true}`, `{"price":1000.0,"flag":false}`, `{"price":null,"flag":true}`}},
	} {
		b.out = setup(t).out // a fresh staging store for each grouping
		groups, err := b.run(b.config(tc.keys...), src)
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != len(tc.want) {
			t.Fatalf("keys %v: %d groups, want %d", tc.keys, len(groups), len(tc.want))
		}
		for i, g := range groups {
			if got := string(g.Ordered.Object()); got != tc.want[i] {
				t.Errorf("keys %v, group %d: partition_key_value %s, want %s", tc.keys, i, got, tc.want[i])
			}
		}
	}
}

// TestGroupValuesOfJSONRows: rows staged as JSON Lines keep a JSON Lines
// value's type and give a CSV field as a string (the DataFrame holds it as
// text).
func TestGroupValuesOfJSONRows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.put("a.csv", tabular.CSV, csvData([]string{"k", "v"}, []string{"5", "x"}))
	j := b.put("b.jsonl", tabular.JSONL, jsonlData(`{"k":6,"v":1}`, `{"k":"seven","v":2}`, `{"k":null,"v":3}`, `{"v":4}`, `{"k":1.5,"v":5}`, `{"k":true,"v":6}`))
	groups, err := b.run(b.config("k"), c, j)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"k":"5"}`, `{"k":6}`, `{"k":"seven"}`, `{"k":null}`, `{"k":1.5}`, `{"k":true}`}
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(groups), len(want))
	}
	for i, g := range groups {
		if got := string(g.Ordered.Object()); got != want[i] {
			t.Errorf("group %d: %s, want %s", i, got, want[i])
		}
	}
}

// TestGroupValuesMatchPandas is the rule itself: for every group staged as
// CSV, pandas.read_csv of the group's object gives a DataFrame whose key
// column equals the group's typed key (df[col] == key holds for every row),
// over a spread of texts pandas types differently.
func TestGroupValuesMatchPandas(t *testing.T) {
	t.Parallel()
	py := pandastest.Python(t)
	b := setup(t)
	texts := []string{"1000", "007", "+5", " 12 ", "-0", "9223372036854775807", "18446744073709551615",
		"99999999999999999999", "2.0", "-0.5", ".5", "5.", "1e3", "1.5E-7", "True", "false", "TRUE",
		"abc", "Doe, Jane", "0x10", "1_000", "1,000", "yes", `say "hi"`, "tropicana"}
	recs := [][]string{{"id", "key"}}
	for i, s := range texts {
		recs = append(recs, []string{strings.Repeat("1", i+1), s}, []string{"2", s})
	}
	groups, err := b.run(b.config("key"), b.put("t.csv", tabular.CSV, csvData(recs...)))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != len(texts) {
		t.Fatalf("%d groups, want %d", len(groups), len(texts))
	}
	var cases []map[string]any
	for _, g := range groups {
		path := filepath.Join(b.out.URI(""), filepath.FromSlash(g.Piece.Key))
		cases = append(cases, map[string]any{"path": path, "key": g.Ordered[0].Value})
	}
	in, _ := json.Marshal(cases)
	const prog = `
import json, sys
import pandas as pd
bad = []
for c in json.load(sys.stdin):
    df = pd.read_csv(c["path"])
    key = c["key"]
    v = df["key"][0]
    v = v.item() if hasattr(v, "item") else v
    if not bool((df["key"] == key).all()) or type(v) is not type(key):
        bad.append("%s: key %r (%s), column %r (%s)" % (c["path"], key, type(key).__name__, df["key"][0], df["key"].dtype))
print("\n".join(bad))
`
	cmd := exec.Command(py, "-c", prog)
	cmd.Stdin = bytes.NewReader(in)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("keys that do not equal their DataFrame's column:\n%s", s)
	}
}

// TestFileGroups: files group by the values of the partition keys, in the
// order of each group's first file; values come in the order of the keys.
func TestFileGroups(t *testing.T) {
	t.Parallel()
	f, err := partition.ParseFormat("/{user}/{season}/{genres}.wav")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := partition.NewFileGroups(f, []string{"user", "mood"}); err == nil {
		t.Fatal("a key that is not a placeholder was accepted")
	}
	fg, err := partition.NewFileGroups(f, []string{"user", "genres"})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"halit/2019/disco.wav", "chunyu/2020/piano.wav", "halit/2020/disco.wav", "halit/2019/orchestra.wav"} {
		if !fg.Add(contracts.Item{Key: k}) {
			t.Fatalf("%s did not match", k)
		}
	}
	if fg.Add(contracts.Item{Key: "halit/disco.wav"}) {
		t.Fatal("a key that does not match the format was added")
	}
	groups := fg.Groups()
	want := []struct{ obj, items string }{
		{`{"user":"halit","genres":"disco"}`, "halit/2019/disco.wav halit/2020/disco.wav"},
		{`{"user":"chunyu","genres":"piano"}`, "chunyu/2020/piano.wav"},
		{`{"user":"halit","genres":"orchestra"}`, "halit/2019/orchestra.wav"},
	}
	if len(groups) != len(want) {
		t.Fatalf("%d groups, want %d", len(groups), len(want))
	}
	for i, g := range groups {
		var keys []string
		for _, it := range g.Items {
			keys = append(keys, it.Key)
		}
		if got := string(g.Ordered.Object()); got != want[i].obj || strings.Join(keys, " ") != want[i].items {
			t.Errorf("group %d: %s %v, want %s %s", i, got, keys, want[i].obj, want[i].items)
		}
		if u, _ := json.Marshal(g.Values["user"]); string(u) != string(g.Ordered[0].Value) {
			t.Errorf("group %d: Values %v, Ordered %s", i, g.Values, g.Ordered)
		}
	}
}
