package onnx

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/parallelrun/prs/contracts"
)

func TestRows(t *testing.T) {
	t.Parallel()
	labels := []string{"cat", "dog", `say "hi"`}
	out := []float32{0.5, 2, 1, -1}
	for _, tc := range []struct {
		post   contracts.Postprocess
		labels []string
		want   string
	}{
		{contracts.Postprocess{}, labels, `"a.png: dog"`},
		{contracts.Postprocess{}, nil, `"a.png: 1"`},
		{contracts.Postprocess{Format: "json"}, labels, `{"file":"a.png","label":"dog","index":1,"score":2}`},
		{contracts.Postprocess{Format: "json", Softmax: true}, labels, `{"file":"a.png","label":"dog","index":1,"score":0.60946006}`},
		{contracts.Postprocess{Kind: "topk", TopK: 2}, labels, `"a.png: dog (2), say \"hi\" (1)"`},
		{contracts.Postprocess{Kind: "topk", TopK: 9, Format: "json"}, labels, `{"file":"a.png","topk":[{"label":"dog","index":1,"score":2},{"label":"say \"hi\"","index":2,"score":1},{"label":"cat","index":0,"score":0.5},{"label":"3","index":3,"score":-1}]}`},
		{contracts.Postprocess{Kind: "raw"}, nil, `"a.png: [0.5,2,1,-1]"`},
		{contracts.Postprocess{Kind: "raw", Format: "json"}, nil, `{"file":"a.png","output":[0.5,2,1,-1]}`},
		{contracts.Postprocess{Kind: "softmax", Format: "json"}, nil, `{"file":"a.png","output":[0.13598892,0.60946006,0.22420782,0.030343227]}`},
	} {
		p, err := newPost(tc.post, tc.labels)
		if err != nil {
			t.Fatal(err)
		}
		var tmp []int
		got := string(p.row("a.png", slices.Clone(out), &tmp))
		if got != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.post, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%s is not JSON", got)
		}
	}
}

func TestRowEdgeCases(t *testing.T) {
	t.Parallel()
	p, _ := newPost(contracts.Postprocess{Kind: "raw", Format: "json"}, nil)
	var tmp []int
	nan := float32(math.NaN())
	if got := string(p.row("x\n\"\\\x01é.png", []float32{nan, float32(math.Inf(1))}, &tmp)); got != `{"file":"x\n\"\\\u0001é.png","output":[null,null]}` {
		t.Errorf("got %s", got)
	}
	if got := argmax([]float32{nan, 1, 3, 3}); got != 2 {
		t.Errorf("argmax with NaN and a tie: %d", got)
	}
	if got := topK([]float32{1, nan, 3, 3}, 3, &tmp); !slices.Equal(got, []int{2, 3, 0}) {
		t.Errorf("topK: %v", got)
	}
	p, _ = newPost(contracts.Postprocess{}, nil)
	if got := string(p.row("a", nil, &tmp)); got != `"a: (no output)"` {
		t.Errorf("empty output: %s", got)
	}
	if _, err := newPost(contracts.Postprocess{Kind: "top5"}, nil); err == nil {
		t.Error("kind top5 was accepted")
	}
}

func TestReadLabels(t *testing.T) {
	t.Parallel()
	path := writeFile(t, filepath.Join(t.TempDir(), "labels.txt"), []byte("zero\r\none\n\ntwo words\n"))
	got, err := readLabels(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"zero", "one", "", "two words"}; !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
}
