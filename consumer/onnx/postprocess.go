package onnx

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parallelrun/prs/contracts"
)

// DefaultTopK is K for postprocess kind topk when top_k is 0.
const DefaultTopK = 5

// post turns one item's output vector into its row.
type post struct {
	kind    string // argmax, topk, softmax or raw
	topK    int
	softmax bool // apply softmax before argmax and topk scores
	json    bool
	labels  []string
	// key is the json rows' name of the item ("file", "id"); "" makes rows
	// without a name: the label alone in text, no such key in json.
	key string
}

func newPost(cfg contracts.Postprocess, labels []string) (*post, error) {
	p := &post{kind: cfg.Kind, topK: cfg.TopK, softmax: cfg.Softmax, labels: labels, key: "file"}
	switch p.kind {
	case "":
		p.kind = "argmax"
	case "argmax", "topk", "softmax", "raw":
	default:
		return nil, &contracts.FieldError{Field: "onnx.postprocess.kind", Err: fmt.Errorf("%w: must be argmax, topk, softmax or raw, got %q", contracts.ErrInvalid, cfg.Kind)}
	}
	if p.topK <= 0 {
		p.topK = DefaultTopK
	}
	switch cfg.Format {
	case "", "text":
	case "json":
		p.json = true
	default:
		return nil, &contracts.FieldError{Field: "onnx.postprocess.format", Err: fmt.Errorf("%w: must be text or json, got %q", contracts.ErrInvalid, cfg.Format)}
	}
	return p, nil
}

// readLabels reads a labels file: one label per line, the line's index its
// class index. A final empty line is not a label; "\r\n" endings are fine.
func readLabels(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: labels: %w", err)
	}
	defer f.Close()
	var labels []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		labels = append(labels, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("onnx: labels %s: %w", path, err)
	}
	return labels, nil
}

func (p *post) label(i int) string {
	if i < len(p.labels) {
		return p.labels[i]
	}
	return strconv.Itoa(i)
}

// row is the row of the item called name whose output is out. It may
// overwrite out (softmax) and uses tmp as scratch.
func (p *post) row(name string, out []float32, tmp *[]int) json.RawMessage {
	if p.kind == "softmax" || (p.softmax && (p.kind == "argmax" || p.kind == "topk")) {
		softmax(out)
	}
	b := make([]byte, 0, len(name)+32)
	switch {
	case p.json:
		b = append(b, '{')
		if p.key != "" {
			b = appendString(b, p.key)
			b = append(b, ':')
			b = appendString(b, name)
			b = append(b, ',')
		}
	case p.key != "":
		b = append(b, name...)
		b = append(b, ": "...)
	}
	switch p.kind {
	case "argmax":
		i := argmax(out)
		if i < 0 {
			b = p.noOutput(b)
			break
		}
		if p.json {
			b = append(b, `"label":`...)
			b = appendString(b, p.label(i))
			b = append(b, `,"index":`...)
			b = strconv.AppendInt(b, int64(i), 10)
			b = append(b, `,"score":`...)
			b = appendNumber(b, out[i])
			b = append(b, '}')
		} else {
			b = append(b, p.label(i)...)
		}
	case "topk":
		idx := topK(out, p.topK, tmp)
		if p.json {
			b = append(b, `"topk":[`...)
		}
		for n, i := range idx {
			if p.json {
				if n > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"label":`...)
				b = appendString(b, p.label(i))
				b = append(b, `,"index":`...)
				b = strconv.AppendInt(b, int64(i), 10)
				b = append(b, `,"score":`...)
				b = appendNumber(b, out[i])
				b = append(b, '}')
				continue
			}
			if n > 0 {
				b = append(b, ", "...)
			}
			b = append(b, p.label(i)...)
			b = append(b, " ("...)
			b = strconv.AppendFloat(b, float64(out[i]), 'g', 4, 32)
			b = append(b, ')')
		}
		if p.json {
			b = append(b, "]}"...)
		}
	default: // softmax, raw
		if p.json {
			b = append(b, `"output":`...)
		}
		b = append(b, '[')
		for n, v := range out {
			if n > 0 {
				b = append(b, ',')
			}
			b = appendNumber(b, v)
		}
		b = append(b, ']')
		if p.json {
			b = append(b, '}')
		}
	}
	if p.json {
		return b
	}
	return appendString(make([]byte, 0, len(b)+2), string(b))
}

func (p *post) noOutput(b []byte) []byte {
	if p.json {
		return append(b, `"label":null,"index":null,"score":null}`...)
	}
	return append(b, "(no output)"...)
}

// argmax is the index of out's first largest value, or -1 when out is empty.
func argmax(out []float32) int {
	best := -1
	for i, v := range out {
		if best < 0 || v > out[best] || (math.IsNaN(float64(out[best])) && !math.IsNaN(float64(v))) {
			best = i
		}
	}
	return best
}

// topK returns the indexes of out's k largest values, largest first, ties
// by index.
func topK(out []float32, k int, tmp *[]int) []int {
	idx := (*tmp)[:0]
	for i := range out {
		idx = append(idx, i)
	}
	*tmp = idx
	slices.SortStableFunc(idx, func(a, b int) int {
		va, vb := float64(out[a]), float64(out[b])
		switch {
		case va > vb || (!math.IsNaN(va) && math.IsNaN(vb)):
			return -1
		case va < vb || (math.IsNaN(va) && !math.IsNaN(vb)):
			return 1
		}
		return 0
	})
	return idx[:min(k, len(idx))]
}

// softmax replaces v by its softmax.
func softmax(v []float32) {
	if len(v) == 0 {
		return
	}
	m := float64(v[0])
	for _, x := range v[1:] {
		m = max(m, float64(x))
	}
	sum := 0.0
	for i, x := range v {
		e := math.Exp(float64(x) - m)
		v[i] = float32(e)
		sum += e
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / sum)
	}
}

// appendNumber appends v as a JSON number (null for NaN and infinities),
// in the shortest form that reads back as the same float32.
func appendNumber(b []byte, v float32) []byte {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, float64(v), 'g', -1, 32)
}

// appendString appends s as a JSON string.
func appendString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		j, _ := json.Marshal(s) // replaces invalid bytes
		return append(b, j...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
