package entryscript

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/parallelrun/prs/internal/pandastest"
)

// rowsScript returns, for a mini-batch whose first path names a case,
// that case's value, and writes to the output folder what
// ParallelRunStep's append_row would write for it: str() of each element
// (of the list, or of the array's first axis), bytes decoded.
const rowsScript = `
import json
import os

import numpy as np
import pandas as pd

from azureml_user.parallel_run import EntryScript

CASES = {
    "/tuple": [("0.png", 7), ("1.png", np.float32(0.5))],
    "/dict": [{"file": "1.png"}, {}],
    "/scalars": [np.float32(0.1), np.float64(0.25), np.int64(7), np.bool_(True), np.bool_(False), np.str_("s")],
    "/plain": [None, True, False, 3, 2.5, float("nan"), "text", b"bytes", bytearray(b"ba"), "caf\u00e9".encode(),
               [1, [2, "x"]], ["a", None]],
    "/array1": np.array([0.5, 1.5, 2.0], dtype=np.float32),
    "/array2": np.array([[1, 2], [3, 4], [5, 6]]),
    "/series": pd.Series([1.5, 2.5]),
    "/badbytes": [b"bad\xffbyte"],
    "/generator": (x for x in [1, 2]),
    "/string": "abc",
    "/scalar": np.float32(1),
}

def run(mini_batch):
    result = CASES[mini_batch[0]]
    if mini_batch[0] in ("/generator", "/string", "/scalar"):
        return result
    expected = [e.decode("utf-8", "surrogateescape") if isinstance(e, (bytes, bytearray)) else str(e) for e in list(result)]
    with open(os.path.join(EntryScript().output_dir, "expected.json"), "w") as f:
        json.dump(expected, f)
    return result
`

// TestRowsAsParallelRunStepWritesThem: with the default text output each
// element run() returns becomes its str(), as ParallelRunStep writes it
// (tuples, dicts, numpy scalars, None, bools, nested lists); bytes are
// decoded; a numpy array or a pandas Series gives one row per element of
// its first axis; anything else that is not a list fails with a TypeError.
func TestRowsAsParallelRunStepWritesThem(t *testing.T) {
	t.Parallel()
	b := setup(t, rowsScript)
	h := b.handler(t, Options{Interpreter: pandastest.Python(t)})
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/tuple", []string{"('0.png', 7)", ""}}, // the second row as numpy prints it: checked against str()
		{"/dict", []string{"{'file': '1.png'}", "{}"}},
		{"/scalars", []string{"0.1", "0.25", "7", "True", "False", "s"}},
		{"/plain", []string{"None", "True", "False", "3", "2.5", "nan", "text", "bytes", "ba", "café", "[1, [2, 'x']]", "['a', None]"}},
		{"/array1", []string{"0.5", "1.5", "2.0"}},
		{"/array2", []string{"[1 2]", "[3 4]", "[5 6]"}},
		{"/series", []string{"1.5", "2.5"}},
	} {
		got := runText(t, h, batch(tc.path))
		var expected []string
		data, err := os.ReadFile(b.output("expected.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &expected); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, expected) {
			t.Errorf("%s: rows %q, str() of the elements %q", tc.path, got, expected)
		}
		for i, w := range tc.want {
			if w != "" && (i >= len(got) || got[i] != w) {
				t.Errorf("%s: rows %q, want %q", tc.path, got, tc.want)
				break
			}
		}
	}
	// A byte that is not UTF-8 travels as the escape of surrogateescape.
	if got := run(t, h, batch("/badbytes")); !slices.Equal(got, []string{`"bad\udcffbyte"`}) {
		t.Errorf("bytes that are not UTF-8: rows %s", got)
	}
	for _, path := range []string{"/generator", "/string", "/scalar"} {
		_, err := h.Run(timeout(t, time.Minute), batch(path))
		if se := scriptError(t, err); se.Type != "TypeError" {
			t.Errorf("%s: %v", path, err)
		} else {
			mustContain(t, path, se.Message, "run() must return a list", "numpy array")
		}
	}
}

// TestRowsAsJSON: with output_format jsonl (or csv, parquet) the elements
// are JSON values, as before: numbers, booleans, null, lists and objects,
// float32 as it prints, arrays as lists, bytes as text.
func TestRowsAsJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, rowsScript)
	b.env.Job.Config.OutputFormat = "jsonl"
	h := b.handler(t, Options{Interpreter: pandastest.Python(t)})
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/tuple", []string{`["0.png",7]`, `["1.png",0.5]`}},
		{"/dict", []string{`{"file":"1.png"}`, `{}`}},
		{"/scalars", []string{`0.1`, `0.25`, `7`, `true`, `false`, `"s"`}},
		{"/plain", []string{`null`, `true`, `false`, `3`, `2.5`, `"nan"`, `"text"`, `"bytes"`, `"ba"`, `"café"`, `[1,[2,"x"]]`, `["a",null]`}},
		{"/array1", []string{`0.5`, `1.5`, `2.0`}},
		{"/array2", []string{`[1,2]`, `[3,4]`, `[5,6]`}},
		{"/badbytes", []string{`"bad\udcffbyte"`}},
	} {
		if got := run(t, h, batch(tc.path)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: rows %s, want %s", tc.path, got, tc.want)
		}
	}
}
