package onnx

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/internal/wire"
	"github.com/sextant-ml/sextant/tensor"
)

// sampleGraph builds a small graph that uses every attribute kind Sextant
// supports, symbolic and unknown dimensions, an omitted optional input, an
// unused output, a string initializer and a non-default domain.
func sampleGraph() *graph.Graph {
	w := tensor.From([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	idx := tensor.From([]int64{-1, 0, 1<<40 + 3}, 3)
	names := &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{2}, Strs: []string{"a", "bé"}}
	g := &graph.Graph{Name: "sample", Opset: 17, Domains: map[string]int{"com.example": 2}}
	x := &graph.Value{Name: "x", Type: graph.Type{DType: tensor.Float32, Known: true,
		Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(2), graph.Unknown()}}}
	wv := &graph.Value{Name: "w", Type: graph.ShapeOf(w.DType, w.Shape), Const: w}
	iv := &graph.Value{Name: "idx", Type: graph.ShapeOf(idx.DType, idx.Shape), Const: idx}
	sv := &graph.Value{Name: "names", Type: graph.ShapeOf(names.DType, names.Shape), Const: names}
	g.Inputs = []*graph.Value{x}
	g.Initializers = []*graph.Value{wv, iv, sv}

	n1 := &graph.Node{Name: "first", Op: "NoSuchOp", Attrs: map[string]*graph.Attr{
		"f":  {Kind: graph.AttrFloat, Float: -0.5},
		"i":  {Kind: graph.AttrInt, Int: -7},
		"s":  {Kind: graph.AttrString, String: "hello"},
		"t":  {Kind: graph.AttrTensor, Tensor: tensor.From([]int32{3, -4}, 2)},
		"fs": {Kind: graph.AttrFloats, Floats: []float32{1.5, float32(math.Inf(-1))}},
		"is": {Kind: graph.AttrInts, Ints: []int64{0, -1, math.MaxInt64}},
		"ss": {Kind: graph.AttrStrings, Strings: []string{"x", ""}},
		"e":  {Kind: graph.AttrInts, Ints: []int64{}},
	}}
	h := &graph.Value{Name: "h", Type: graph.Type{DType: tensor.Float32}, Producer: n1}
	n1.Inputs = []*graph.Value{x, nil, wv}
	n1.Outputs = []*graph.Value{h, nil}
	n2 := &graph.Node{Op: "Other", Domain: "com.example"}
	y := &graph.Value{Name: "y", Type: graph.Type{DType: tensor.Float32, Known: true, Shape: []graph.Dim{}}, Producer: n2}
	n2.Inputs = []*graph.Value{h, iv, sv}
	n2.Outputs = []*graph.Value{y}
	g.Nodes = []*graph.Node{n1, n2}
	g.Outputs = []*graph.Value{y, h}
	return g
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	g := sampleGraph()
	data, err := Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeModel(data)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffGraphs(g, back); d != "" {
		t.Fatalf("round trip: %s", d)
	}
	// Values are shared by name: n2 reads the value n1 produces.
	if back.Nodes[1].Inputs[0] != back.Nodes[0].Outputs[0] || back.Nodes[1].Inputs[0].Producer != back.Nodes[0] {
		t.Error("edges are not linked")
	}
	if back.Initializers[0].Const == nil || back.Nodes[0].Inputs[2] != back.Initializers[0] {
		t.Error("initializer not linked to its reader")
	}
	// And a second encoding is byte-identical (attributes are sorted).
	again, err := Encode(back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(data) {
		t.Error("Encode is not deterministic")
	}
}

func TestDecodeReportsUnsupportedOps(t *testing.T) {
	data, err := Encode(sampleGraph())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(data)
	var uo *graph.UnsupportedOpError
	if !errors.As(err, &uo) {
		t.Fatalf("Decode: %v, want an UnsupportedOpError", err)
	}
	if uo.Op != "NoSuchOp" || uo.Node != "first" {
		t.Errorf("got %+v, want op NoSuchOp, node first", uo)
	}
	// Both unsupported ops are reported; the unnamed node by its output.
	for _, want := range []string{"NoSuchOp", `com.example.Other (node "y")`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if g, err := decodeModel(data); err != nil || CheckOps(g) == nil {
		t.Errorf("decodeModel: %v; CheckOps must fail on the same graph", err)
	}
}

func TestReadFile(t *testing.T) {
	data, err := Encode(sampleGraph())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(path)
	var uo *graph.UnsupportedOpError
	if !errors.As(err, &uo) || !strings.Contains(err.Error(), path) {
		t.Errorf("ReadFile: %v, want an UnsupportedOpError naming the file", err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.onnx")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// TestInitializerListedAsInput checks the old-IR convention: an initializer
// also named among the graph inputs is a constant, not an input.
func TestInitializerListedAsInput(t *testing.T) {
	g := sampleGraph()
	data, err := Encode(g)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseModel(data)
	if err != nil {
		t.Fatal(err)
	}
	// Append an input entry for initializer "w" to the graph message.
	vi := appendValueInfo(nil, g.Initializers[0])
	graphBody := appendMessage(append([]byte{}, m.graph...), gpInput, vi)
	model := rebuildModel(t, data, graphBody)
	back, err := decodeModel(model)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Inputs) != 1 || back.Inputs[0].Name != "x" {
		t.Errorf("inputs %v, want only x", valueNames(back.Inputs))
	}
	if back.Nodes[0].Inputs[2].Const == nil {
		t.Error("w lost its value")
	}
}

// rebuildModel returns model with its graph field replaced by graphBody.
func rebuildModel(t *testing.T, model, graphBody []byte) []byte {
	t.Helper()
	var out []byte
	err := wire.Each(model, func(f wire.Field) error {
		if f.Num == mpGraph {
			out = appendMessage(out, mpGraph, graphBody)
			return nil
		}
		out = protowire.AppendTag(out, f.Num, f.Type)
		switch f.Type {
		case protowire.VarintType:
			out = protowire.AppendVarint(out, f.V)
		case protowire.BytesType:
			out = protowire.AppendBytes(out, f.B)
		default:
			t.Fatalf("unexpected wire type %d", f.Type)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func valueNames(vs []*graph.Value) []string {
	var s []string
	for _, v := range vs {
		s = append(s, v.Name)
	}
	return s
}

// model wraps graph body parts into a ModelProto importing opset 17.
func model(parts ...[]byte) []byte {
	var gb []byte
	for _, p := range parts {
		gb = append(gb, p...)
	}
	b := appendMessage(nil, mpOpsetImport, appendOpset(nil, "", 17))
	return appendMessage(b, mpGraph, gb)
}

func node(op string, in, out []string, attrs ...[]byte) []byte {
	var b []byte
	for _, s := range in {
		b = appendString(b, npInput, s)
	}
	for _, s := range out {
		b = appendString(b, npOutput, s)
	}
	b = appendString(b, npOpType, op)
	for _, a := range attrs {
		b = appendMessage(b, npAttribute, a)
	}
	return appendMessage(nil, gpNode, b)
}

func input(name string) []byte {
	return appendMessage(nil, gpInput, appendValueInfo(nil, &graph.Value{Name: name,
		Type: graph.ShapeOf(tensor.Float32, tensor.Shape{1})}))
}

func output(name string) []byte {
	return appendMessage(nil, gpOutput, appendString(nil, viName, name))
}

func TestDecodeRejectsMalformedGraphs(t *testing.T) {
	graphAttr := appendString(nil, apName, "then_branch")
	graphAttr = protowire.AppendTag(graphAttr, apType, protowire.VarintType)
	graphAttr = protowire.AppendVarint(graphAttr, uint64(graph.AttrGraph))
	graphAttr = appendMessage(graphAttr, apG, nil)
	seqType := appendMessage(appendString(nil, viName, "s"), viType, appendMessage(nil, 4, nil))
	external := protowire.AppendVarint(protowire.AppendTag(nil, tpDataType, protowire.VarintType), 1)
	external = appendString(external, tpName, "w")
	external = protowire.AppendVarint(protowire.AppendTag(external, tpDataLocation, protowire.VarintType), 1)

	tests := []struct {
		name string
		data []byte
		want string
		is   error
	}{
		{"undefined input", model(input("x"), node("Relu", []string{"nope"}, []string{"y"}), output("y")), `input "nope" is not defined`, nil},
		{"not topological", model(input("x"), node("Relu", []string{"a"}, []string{"y"}), node("Relu", []string{"x"}, []string{"a"}), output("y")), "topological order", nil},
		{"defined twice", model(input("x"), node("Relu", []string{"x"}, []string{"x"}), output("x")), `value "x" is defined twice`, nil},
		{"undefined output", model(input("x"), output("z")), `output "z" is not defined`, nil},
		{"subgraph", model(input("x"), node("If", []string{"x"}, []string{"y"}, graphAttr), output("y")), `If`, ErrSubgraph},
		{"sequence input", model(appendMessage(nil, gpInput, seqType), output("s")), `value "s"`, ErrNonTensorType},
		{"external data", model(appendMessage(nil, gpInitializer, external), output("w")), `"w"`, ErrExternalData},
		{"no op type", model(input("x"), node("", []string{"x"}, []string{"y"}), output("y")), "no op_type", nil},
		{"no graph", appendMessage(nil, mpOpsetImport, appendOpset(nil, "", 17)), "no graph", nil},
		{"no default opset", appendMessage(nil, mpGraph, append(input("x"), node("Relu", []string{"x"}, []string{"y"})...)), "does not import", nil},
		{"truncated", model(input("x"))[:10], "onnx", nil},
		{"wrong wire type", protowire.AppendVarint(protowire.AppendTag(nil, mpGraph, protowire.VarintType), 3), "wire type", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeModel(tc.data)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
		})
	}
}

func TestDecodeKeepsSymbolicDims(t *testing.T) {
	data, err := Encode(sampleGraph())
	if err != nil {
		t.Fatal(err)
	}
	g, err := decodeModel(data)
	if err != nil {
		t.Fatal(err)
	}
	x := g.Inputs[0].Type
	want := []graph.Dim{graph.Symbol("batch"), graph.Fixed(2), graph.Unknown()}
	if !sameType(x, graph.Type{DType: tensor.Float32, Known: true, Shape: want}) {
		t.Errorf("x has type %v, want float32[batch,2,?]", x)
	}
	if g.Outputs[0].Type.Known != true || len(g.Outputs[0].Type.Shape) != 0 {
		t.Errorf("scalar output y has type %v", g.Outputs[0].Type)
	}
	if g.Outputs[1].Type.Known || g.Outputs[1].Type.DType != tensor.Float32 {
		t.Errorf("h has type %v, want float32 of unknown rank", g.Outputs[1].Type)
	}
}

func TestAttrTypeInferredWhenMissing(t *testing.T) {
	// IR version 1 attributes carry no type field.
	a := appendString(nil, apName, "alpha")
	a = protowire.AppendTag(a, apF, protowire.Fixed32Type)
	a = protowire.AppendFixed32(a, math.Float32bits(0.25))
	g, err := decodeModel(model(input("x"), node("LeakyRelu", []string{"x"}, []string{"y"}, a), output("y")))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Nodes[0].Float("alpha", 0); got != 0.25 {
		t.Errorf("alpha = %v, want 0.25", got)
	}
}

func TestPackedAndUnpackedIntsAgree(t *testing.T) {
	unpacked := appendString(nil, apName, "perm")
	unpacked = protowire.AppendVarint(protowire.AppendTag(unpacked, apType, protowire.VarintType), uint64(graph.AttrInts))
	var packedBody []byte
	for _, v := range []int64{2, 0, -1} {
		unpacked = protowire.AppendVarint(protowire.AppendTag(unpacked, apInts, protowire.VarintType), uint64(v))
		packedBody = protowire.AppendVarint(packedBody, uint64(v))
	}
	packed := appendString(nil, apName, "perm")
	packed = protowire.AppendVarint(protowire.AppendTag(packed, apType, protowire.VarintType), uint64(graph.AttrInts))
	packed = appendMessage(packed, apInts, packedBody)
	for _, a := range [][]byte{unpacked, packed} {
		_, attr, err := parseAttr(a)
		if err != nil {
			t.Fatal(err)
		}
		if len(attr.Ints) != 3 || attr.Ints[0] != 2 || attr.Ints[1] != 0 || attr.Ints[2] != -1 {
			t.Errorf("ints = %v, want [2 0 -1]", attr.Ints)
		}
	}
}

func TestEncodeRejectsBadGraphs(t *testing.T) {
	g := sampleGraph()
	g.Nodes[1].Outputs[0].Name = "h" // clashes with n1's output
	if _, err := Encode(g); err == nil || !strings.Contains(err.Error(), `two values are named "h"`) {
		t.Errorf("duplicate names: %v", err)
	}
	g = sampleGraph()
	g.Nodes[0].Attrs["body"] = &graph.Attr{Kind: graph.AttrGraph}
	if _, err := Encode(g); !errors.Is(err, ErrSubgraph) {
		t.Errorf("graph attribute: %v", err)
	}
	g = sampleGraph()
	g.Initializers[0].Const = nil
	if _, err := Encode(g); err == nil {
		t.Error("initializer without value encoded")
	}
}
