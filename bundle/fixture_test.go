package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// allDTypeTensors returns one small tensor of every supported dtype, with
// distinct contents.
func allDTypeTensors() map[string]*tensor.Tensor {
	f16 := []tensor.Float16Bits{tensor.Float16FromFloat32(1.5), tensor.Float16FromFloat32(-2)}
	bf16 := []tensor.BFloat16Bits{tensor.BFloat16FromFloat32(3.25), tensor.BFloat16FromFloat32(-0.5)}
	return map[string]*tensor.Tensor{
		"w_f32":  tensor.From([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 4, 3),
		"w_f64":  tensor.From([]float64{math.Pi, -math.E}, 2),
		"w_f16":  tensor.From(f16, 2),
		"w_bf16": tensor.From(bf16, 1, 2),
		"w_i8":   tensor.From([]int8{-128, 127, 0}, 3),
		"w_u8":   tensor.From([]uint8{0, 255}, 2),
		"w_i16":  tensor.From([]int16{-30000, 30000}, 2),
		"w_u16":  tensor.From([]uint16{65535}, 1),
		"w_i32":  tensor.From([]int32{-1 << 31, 1<<31 - 1}, 2),
		"w_i64":  tensor.From([]int64{math.MinInt64, math.MaxInt64, 0}, 3),
		"w_u32":  tensor.From([]uint32{1<<32 - 1}, 1, 1),
		"w_u64":  tensor.From([]uint64{1<<64 - 1}, 1),
		"w_bool": tensor.From([]bool{true, false, true}, 3),
		"w_str":  {DType: tensor.String, Shape: tensor.Shape{2, 2}, Strs: []string{"", "héllo", "a\x00b", "the quick brown fox"}},
		"w_scal": tensor.Scalar[float32](42),
		"w_zero": tensor.New(tensor.Float32, 0, 5),
	}
}

// testGraph builds a graph that exercises every attribute kind, every dtype,
// symbolic and unknown dimensions, an omitted node input and an unused node
// output.
func testGraph() *graph.Graph {
	x := &graph.Value{Name: "x", Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(4)}, Known: true}}
	tok := &graph.Value{Name: "tokens", Type: graph.Type{DType: tensor.String, Shape: []graph.Dim{graph.Symbol("batch"), graph.Unknown()}, Known: true}}
	hour := &graph.Value{Name: "hour", Type: graph.Type{DType: tensor.Int64, Shape: []graph.Dim{graph.Symbol("batch")}, Known: true}}
	g := &graph.Graph{Name: "fixture", Opset: 17, Domains: map[string]int{"com.microsoft": 1, "sextant": 2}}
	g.Inputs = []*graph.Value{x, tok, hour}
	ts := allDTypeTensors()
	for _, name := range sortedKeys(ts) {
		t := ts[name]
		g.Initializers = append(g.Initializers, &graph.Value{Name: name, Type: graph.ShapeOf(t.DType, t.Shape), Const: t})
	}
	w := g.Initializers[slices.IndexFunc(g.Initializers, func(v *graph.Value) bool { return v.Name == "w_f32" })]
	h := &graph.Value{Name: "h", Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(3)}, Known: true}}
	y := &graph.Value{Name: "y", Type: graph.Type{DType: tensor.Float32, Shape: []graph.Dim{graph.Symbol("batch"), graph.Fixed(3)}, Known: true}}
	mean := &graph.Value{Name: "mean", Type: graph.Type{DType: tensor.Float32}}
	folded := &graph.Value{Name: "folded", Type: graph.ShapeOf(tensor.Int64, tensor.Shape{2}), Const: tensor.From([]int64{7, 8}, 2)}
	mm := &graph.Node{Name: "mm", Op: "MatMul", Inputs: []*graph.Value{x, w}, Outputs: []*graph.Value{h},
		Attrs: map[string]*graph.Attr{
			"alpha":   {Kind: graph.AttrFloat, Float: -0.125},
			"axis":    {Kind: graph.AttrInt, Int: -1},
			"big":     {Kind: graph.AttrInt, Int: math.MinInt64},
			"mode":    {Kind: graph.AttrString, String: "constant\x00\xff"},
			"value":   {Kind: graph.AttrTensor, Tensor: tensor.From([]float32{0.5, 1.5}, 2)},
			"body":    {Kind: graph.AttrGraph},
			"scales":  {Kind: graph.AttrFloats, Floats: []float32{1, float32(math.Inf(1)), -0}},
			"perm":    {Kind: graph.AttrInts, Ints: []int64{1, 0, -5, math.MaxInt64}},
			"names":   {Kind: graph.AttrStrings, Strings: []string{"a", "", "ç"}},
			"nofloat": {Kind: graph.AttrFloats},
		}}
	ln := &graph.Node{Name: "ln", Op: "LayerNormalization", Inputs: []*graph.Value{h, nil, folded}, Outputs: []*graph.Value{y, mean, nil},
		Attrs: map[string]*graph.Attr{"epsilon": {Kind: graph.AttrFloat, Float: 1e-5}}}
	fused := &graph.Node{Op: "FusedGelu", Domain: "sextant", Inputs: []*graph.Value{y}, Outputs: []*graph.Value{{Name: "z", Type: y.Type}}}
	for _, n := range []*graph.Node{mm, ln, fused} {
		for _, o := range n.Outputs {
			if o != nil {
				o.Producer = n
			}
		}
	}
	g.Nodes = []*graph.Node{mm, ln, fused}
	g.Outputs = []*graph.Value{y, fused.Outputs[0]}
	return g
}

// testManifest fills every manifest field for testGraph.
func testManifest(g *graph.Graph) *Manifest {
	axis := 0
	m := &Manifest{
		Name:          "fixture",
		Version:       "1.2.0-rc.1+build.5",
		ParentVersion: "1.1.0",
		Signature:     SignatureOf(g),
		Preprocessing: map[string][]float64{"mean": {0.5, 1, 2, 3}, "std": {1, 1, 2, 0.25}},
		Quantization: &Quantization{Mode: "int8", Tensors: map[string]QuantParams{
			"w_i8": {Scale: []float64{0.1, 0.2, 0.3}, ZeroPoint: []int64{0, 1, -1}, Axis: &axis, DType: "int8"},
			"w_u8": {Scale: []float64{0.02}, ZeroPoint: []int64{128}, DType: "uint8"},
		}},
		FineTuning: &FineTuning{Trainable: []string{"w_f32", "w_f6?"},
			Optimizer: Optimizer{Name: "adamw", LearningRate: 1e-3, Betas: [2]float64{0.9, 0.999}, Epsilon: 1e-8, WeightDecay: 0.01}},
		Calibration:   &Calibration{Temperature: 1.7, CascadeThreshold: 0.6},
		ServerVariant: &ServerVariant{Model: "eta-server", Version: "3.0.0", Inputs: []string{"x", "hour"}},
		Golden: &Golden{
			Inputs:    []TensorRef{{Name: "x", Tensor: "golden/in/x"}, {Name: "tokens", Tensor: "golden/in/tokens"}, {Name: "hour", Tensor: "golden/in/hour"}},
			Outputs:   []TensorRef{{Name: "y", Tensor: "golden/out/y"}},
			Tolerance: Tolerance{Abs: 1e-5, Rel: 1e-4},
		},
		Provenance: Provenance{
			DataSnapshot:    "sha256:5e1f",
			TrainingRun:     "run-2024-07-01-a",
			FederatedRounds: []string{"r17", "r18"},
			Privacy:         &PrivacyCost{Epsilon: 2.5, Delta: 1e-6, Accountant: "rdp"},
			Source:          "sha256:00ff",
			CreatedAt:       time.Date(2024, 7, 1, 12, 30, 0, 0, time.UTC),
			Producer:        Producer{Tool: "sextant convert", Version: "0.1.0"},
		},
		MinRuntimeVersion: "0.1.0",
		DeviceProfiles:    []string{"phone-low", "phone-mid"},
	}
	m.Signature.Inputs[0].Privacy = Sensitive
	m.Signature.Inputs[0].Coarsening = &Coarsening{Kind: CoarsenH3, Resolution: 7}
	m.Signature.Inputs[2].Privacy = Sensitive
	m.Signature.Inputs[2].Coarsening = &Coarsening{Kind: CoarsenTimeSlot, Minutes: 30}
	m.Signature.Outputs = m.Signature.Outputs[:1]
	return m
}

// testExtras are golden tensors and a packed weight in a layout this package
// does not know.
func testExtras() []Extra {
	return []Extra{
		{Name: "golden/in/x", Tensor: tensor.From([]float32{1, 2, 3, 4}, 1, 4)},
		{Name: "golden/in/tokens", Tensor: &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{1, 1}, Strs: []string{"home"}}},
		{Name: "golden/in/hour", Tensor: tensor.From([]int64{17}, 1)},
		{Name: "golden/out/y", Tensor: tensor.From([]float32{0.1, 0.2, 0.3}, 1, 3)},
		{Name: "w_f32", Layout: "f32-panel-avx512-16", Tensor: &tensor.Tensor{DType: tensor.Float32, Shape: tensor.Shape{4, 3}, Raw: bytes.Repeat([]byte{0xab}, 16*4*4)}},
	}
}

// writeFixture returns the bytes of a bundle of the test graph, in aligned
// memory.
func writeFixture(t testing.TB) []byte {
	t.Helper()
	g := testGraph()
	var buf bytes.Buffer
	if err := Write(&buf, g, testManifest(g), testExtras()...); err != nil {
		t.Fatal(err)
	}
	b := tensor.AlignedBytes(buf.Len())
	copy(b, buf.Bytes())
	return b
}

// diffGraphs describes the first difference between two graphs, "" if none.
func diffGraphs(a, b *graph.Graph) string {
	if a.Name != b.Name || a.Opset != b.Opset || fmt.Sprint(a.Domains) != fmt.Sprint(b.Domains) {
		return fmt.Sprintf("header: %q/%d/%v vs %q/%d/%v", a.Name, a.Opset, a.Domains, b.Name, b.Opset, b.Domains)
	}
	for _, l := range []struct {
		what string
		x, y []*graph.Value
	}{{"inputs", a.Inputs, b.Inputs}, {"outputs", a.Outputs, b.Outputs}, {"initializers", a.Initializers, b.Initializers}} {
		if len(l.x) != len(l.y) {
			return fmt.Sprintf("%s: %d vs %d", l.what, len(l.x), len(l.y))
		}
		for i := range l.x {
			if d := diffValues(l.x[i], l.y[i]); d != "" {
				return fmt.Sprintf("%s[%d]: %s", l.what, i, d)
			}
		}
	}
	if len(a.Nodes) != len(b.Nodes) {
		return fmt.Sprintf("nodes: %d vs %d", len(a.Nodes), len(b.Nodes))
	}
	for i, n := range a.Nodes {
		m := b.Nodes[i]
		if n.Name != m.Name || n.Op != m.Op || n.Domain != m.Domain || len(n.Inputs) != len(m.Inputs) || len(n.Outputs) != len(m.Outputs) || len(n.Attrs) != len(m.Attrs) {
			return fmt.Sprintf("node %d: %v vs %v", i, n, m)
		}
		for j := range n.Inputs {
			if d := diffValues(n.Inputs[j], m.Inputs[j]); d != "" {
				return fmt.Sprintf("node %d input %d: %s", i, j, d)
			}
		}
		for j := range n.Outputs {
			if d := diffValues(n.Outputs[j], m.Outputs[j]); d != "" {
				return fmt.Sprintf("node %d output %d: %s", i, j, d)
			}
			if n.Outputs[j] != nil && m.Outputs[j].Producer != m {
				return fmt.Sprintf("node %d output %d: producer not set", i, j)
			}
		}
		for k, x := range n.Attrs {
			y, ok := m.Attrs[k]
			if !ok {
				return fmt.Sprintf("node %d: attribute %q missing", i, k)
			}
			if d := diffTensors(x.Tensor, y.Tensor); d != "" {
				return fmt.Sprintf("node %d attribute %q: %s", i, k, d)
			}
			xc, yc := *x, *y
			xc.Tensor, yc.Tensor = nil, nil
			if fmt.Sprintf("%#v", xc) != fmt.Sprintf("%#v", yc) {
				return fmt.Sprintf("node %d attribute %q: %#v vs %#v", i, k, xc, yc)
			}
		}
	}
	return ""
}

func diffValues(x, y *graph.Value) string {
	if (x == nil) != (y == nil) {
		return fmt.Sprintf("%v vs %v", x, y)
	}
	if x == nil {
		return ""
	}
	if x.Name != y.Name || x.Type.String() != y.Type.String() || fmt.Sprint(x.Type.Shape) != fmt.Sprint(y.Type.Shape) {
		return fmt.Sprintf("value %q %v vs %q %v", x.Name, x.Type, y.Name, y.Type)
	}
	if d := diffTensors(x.Const, y.Const); d != "" {
		return fmt.Sprintf("value %q: %s", x.Name, d)
	}
	return ""
}

func diffTensors(x, y *tensor.Tensor) string {
	if (x == nil) != (y == nil) {
		return fmt.Sprintf("tensor %v vs %v", x, y)
	}
	if x == nil {
		return ""
	}
	if x.DType != y.DType || !x.Shape.Equal(y.Shape) || !bytes.Equal(x.Raw, y.Raw) || !slices.Equal(x.Strs, y.Strs) {
		return fmt.Sprintf("tensor %v %x %q vs %v %x %q", x, x.Raw, x.Strs, y, y.Raw, y.Strs)
	}
	return ""
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
