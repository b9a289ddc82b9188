package onnx

import (
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func grayImage(w, h int, v uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readDigits reads a CSV file of examples/digits, its header included.
func readDigits(t testing.TB, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(digitsDir, name))
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

// digitsCSV reads examples/digits/digits.csv: each image's name (without
// .png) and its 64 model inputs.
func digitsCSV(t testing.TB) ([]string, [][]float32) {
	t.Helper()
	recs := readDigits(t, "digits.csv")
	var names []string
	var pixels [][]float32
	for _, r := range recs[1:] {
		names = append(names, strings.TrimSuffix(r[0], ".png"))
		px := make([]float32, 64)
		for i := range px {
			v, err := strconv.ParseFloat(r[2+i], 32)
			if err != nil {
				t.Fatal(err)
			}
			px[i] = float32(v)
		}
		pixels = append(pixels, px)
	}
	return names, pixels
}

// npyFile is a version 1.0 .npy file.
func npyFile(descr string, shape []int, data []byte) []byte {
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	sh := strings.Join(dims, ", ")
	if len(shape) == 1 {
		sh += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, sh)
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY\x01\x00")
	_ = binary.Write(&b, binary.LittleEndian, uint16(len(h)))
	b.WriteString(h)
	b.Write(data)
	return b.Bytes()
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

func f64bytes(v []float32) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(float64(x)))
	}
	return b
}

// rgbImage is a w x h image whose pixel (x, y) is (x, y, x+y).
func rgbImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	return img
}

// slowLayers and slowWidth make slowModel take about a second for a model
// batch of 32 on a CPU of 2026.
const slowLayers, slowWidth = 64, 4096

// slowModel is an ONNX model (IR 8, opset 13) with the digits model's input
// "pixels" float32 [N,1,8,8] and output "logits" [N,10] that takes long, so
// that a test can stop it: it tiles each item's 64 values width times and
// applies Sin layers times (no weights, so opening it is quick), then
// keeps 10 columns. It is written as protobuf by hand, since nothing here
// depends on the onnx package.
func slowModel(layers, width int) []byte {
	var nodes [][]byte
	nodes = append(nodes, pbNode("Flatten", []string{"pixels"}, "h0"))
	nodes = append(nodes, pbNode("Tile", []string{"h0", "repeats"}, "h1"))
	for i := 1; i <= layers; i++ {
		nodes = append(nodes, pbNode("Sin", []string{"h" + strconv.Itoa(i)}, "h"+strconv.Itoa(i+1)))
	}
	nodes = append(nodes, pbNode("Slice", []string{"h" + strconv.Itoa(layers+1), "starts", "ends", "axes"}, "logits"))
	var graph []byte
	for _, n := range nodes {
		graph = append(graph, pbBytes(1, n)...)
	}
	graph = append(graph, pbBytes(2, []byte("slow"))...)
	graph = append(graph, pbBytes(5, pbInt64s("repeats", 1, int64(width)))...)
	graph = append(graph, pbBytes(5, pbInt64s("starts", 0))...)
	graph = append(graph, pbBytes(5, pbInt64s("ends", 10))...)
	graph = append(graph, pbBytes(5, pbInt64s("axes", 1))...)
	graph = append(graph, pbBytes(11, pbValueInfo("pixels", -1, 1, 8, 8))...)
	graph = append(graph, pbBytes(12, pbValueInfo("logits", -1, 10))...)
	var model []byte
	model = append(model, pbVarint(1, 8)...)                                          // ir_version
	model = append(model, pbBytes(8, append(pbBytes(1, nil), pbVarint(2, 13)...))...) // opset_import
	model = append(model, pbBytes(7, graph)...)
	return model
}

func pbKey(field, wire int) []byte { return binary.AppendUvarint(nil, uint64(field<<3|wire)) }

func pbVarint(field int, v uint64) []byte {
	return binary.AppendUvarint(pbKey(field, 0), v)
}

func pbBytes(field int, b []byte) []byte {
	out := binary.AppendUvarint(pbKey(field, 2), uint64(len(b)))
	return append(out, b...)
}

// pbNode is a NodeProto.
func pbNode(op string, inputs []string, output string) []byte {
	var b []byte
	for _, in := range inputs {
		b = append(b, pbBytes(1, []byte(in))...)
	}
	b = append(b, pbBytes(2, []byte(output))...)
	return append(b, pbBytes(4, []byte(op))...)
}

// pbInt64s is a 1-D int64 TensorProto.
func pbInt64s(name string, vs ...int64) []byte {
	b := pbVarint(1, uint64(len(vs)))
	b = append(b, pbVarint(2, 7)...) // INT64
	b = append(b, pbBytes(8, []byte(name))...)
	raw := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	return append(b, pbBytes(9, raw)...)
}

// pbValueInfo is a float tensor's ValueInfoProto; -1 is a dynamic dimension.
func pbValueInfo(name string, dims ...int) []byte {
	var shape []byte
	for _, d := range dims {
		if d < 0 {
			shape = append(shape, pbBytes(1, pbBytes(2, []byte("N")))...)
		} else {
			shape = append(shape, pbBytes(1, pbVarint(1, uint64(d)))...)
		}
	}
	tensor := append(pbVarint(1, 1), pbBytes(2, shape)...)
	return append(pbBytes(1, []byte(name)), pbBytes(2, pbBytes(1, tensor))...)
}
