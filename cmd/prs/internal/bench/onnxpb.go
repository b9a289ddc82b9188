package bench

import (
	"encoding/binary"
	"math"
)

// This file writes small ONNX models (IR version 8, opset 13) as protobuf by
// hand, so that the benchmark and its tests need no onnx package: the probe
// model of the decode stage, and the tests' tiny classifier. Field numbers
// are those of onnx.proto.

// graph is an ONNX graph under construction.
type graph struct {
	name    string
	nodes   [][]byte
	inits   [][]byte
	inputs  [][]byte
	outputs [][]byte
}

// node adds a NodeProto; attrs are AttributeProtos from intAttr and intsAttr.
func (g *graph) node(op string, inputs []string, output string, attrs ...[]byte) {
	var b []byte
	for _, in := range inputs {
		b = append(b, pbBytes(1, []byte(in))...)
	}
	b = append(b, pbBytes(2, []byte(output))...)
	b = append(b, pbBytes(4, []byte(op))...)
	for _, a := range attrs {
		b = append(b, pbBytes(5, a)...)
	}
	g.nodes = append(g.nodes, b)
}

// floats adds a float32 initializer (a TensorProto with raw_data).
func (g *graph) floats(name string, dims []int64, vs []float32) {
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
	g.inits = append(g.inits, append(b, pbBytes(9, raw)...))
}

// input and output add a float32 tensor's ValueInfoProto; a negative
// dimension is the dynamic batch dimension "N".
func (g *graph) input(name string, dims ...int64) { g.inputs = append(g.inputs, valueInfo(name, dims)) }
func (g *graph) output(name string, dims ...int64) {
	g.outputs = append(g.outputs, valueInfo(name, dims))
}

// model returns the ModelProto.
func (g *graph) model() []byte {
	var gb []byte
	for _, n := range g.nodes {
		gb = append(gb, pbBytes(1, n)...)
	}
	gb = append(gb, pbBytes(2, []byte(g.name))...)
	for _, t := range g.inits {
		gb = append(gb, pbBytes(5, t)...)
	}
	for _, v := range g.inputs {
		gb = append(gb, pbBytes(11, v)...)
	}
	for _, v := range g.outputs {
		gb = append(gb, pbBytes(12, v)...)
	}
	var m []byte
	m = append(m, pbVarint(1, 8)...)                                          // ir_version
	m = append(m, pbBytes(2, []byte("prs-bench"))...)                         // producer_name
	m = append(m, pbBytes(8, append(pbBytes(1, nil), pbVarint(2, 13)...))...) // opset_import: "" 13
	return append(m, pbBytes(7, gb)...)
}

func valueInfo(name string, dims []int64) []byte {
	var shape []byte
	for _, d := range dims {
		if d < 0 {
			shape = append(shape, pbBytes(1, pbBytes(2, []byte("N")))...)
		} else {
			shape = append(shape, pbBytes(1, pbVarint(1, uint64(d)))...)
		}
	}
	tensor := append(pbVarint(1, 1), pbBytes(2, shape)...) // elem_type FLOAT, shape
	return append(pbBytes(1, []byte(name)), pbBytes(2, pbBytes(1, tensor))...)
}

// intAttr is an INT AttributeProto.
func intAttr(name string, v int64) []byte {
	b := pbBytes(1, []byte(name))
	b = append(b, pbVarint(3, uint64(v))...)
	return append(b, pbVarint(20, 2)...)
}

// intsAttr is an INTS AttributeProto.
func intsAttr(name string, vs ...int64) []byte {
	b := pbBytes(1, []byte(name))
	for _, v := range vs {
		b = append(b, pbVarint(8, uint64(v))...)
	}
	return append(b, pbVarint(20, 7)...)
}

func pbKey(field, wire int) []byte { return binary.AppendUvarint(nil, uint64(field<<3|wire)) }

func pbVarint(field int, v uint64) []byte { return binary.AppendUvarint(pbKey(field, 0), v) }

func pbBytes(field int, b []byte) []byte {
	out := binary.AppendUvarint(pbKey(field, 2), uint64(len(b)))
	return append(out, b...)
}

// probeModel is the decode stage's model: input "input" float32
// [N,3,size,size] -> GlobalAveragePool -> Flatten -> "logits" [N,3]. Its
// cost is a read of the input, so that a handler running it measures
// decoding and preprocessing.
func probeModel(size int) []byte {
	s := int64(size)
	g := &graph{name: "probe"}
	g.input("input", -1, 3, s, s)
	g.output("logits", -1, 3)
	g.node("GlobalAveragePool", []string{"input"}, "pool")
	g.node("Flatten", []string{"pool"}, "logits", intAttr("axis", 1))
	return g.model()
}
