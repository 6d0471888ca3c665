package arch

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

func TestMLP(t *testing.T) {
	spec := Spec{Columns: map[string]Column{"x": {DType: tensor.Float32, Shape: []int{5}}, "dist": {DType: tensor.Float64}},
		Outputs: 3, Hidden: []int{8, 4}, Rand: rand.New(rand.NewPCG(1, 2))}
	m, err := Registry["mlp"](spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := graph.Infer(m.Graph, nil); err != nil {
		t.Fatal(err)
	}
	want := map[string]tensor.Shape{"fc1.weight": {8, 5}, "fc1.bias": {8}, "fc2.weight": {4, 8}, "fc2.bias": {4}, "head.weight": {3, 4}, "head.bias": {3}}
	for _, v := range m.Graph.Initializers {
		s, ok := want[v.Name]
		if !ok || !v.Const.Shape.Equal(s) {
			t.Errorf("initializer %s %v, want %v", v.Name, v.Const.Shape, s)
			continue
		}
		delete(want, v.Name)
		// torch.nn.Linear's init: uniform in ±1/√fan_in.
		bound := 1 / math.Sqrt(float64(m.Graph.Initializers[0].Const.Shape[1]))
		if v.Name[:3] == "fc2" {
			bound = 1 / math.Sqrt(8)
		} else if v.Name[:4] == "head" {
			bound = 0.5
		}
		for _, x := range tensor.Data[float32](v.Const) {
			if math.Abs(float64(x)) > bound {
				t.Errorf("%s has %v outside ±%v", v.Name, x, bound)
			}
		}
	}
	if len(want) != 0 {
		t.Errorf("missing parameters %v", want)
	}
	out := m.Graph.Outputs[0]
	if m.Output != "logits" || out.Name != "logits" || out.Type.Shape[1].Size != 3 || m.Graph.Inputs[0].Name != "x" {
		t.Errorf("output %v, inputs %v", out, m.Graph.Inputs)
	}
	// Two columns and no --input naming one other than x: x is chosen; a
	// missing column is an error, as is a sequence input.
	spec.Input = "nope"
	if _, err := MLP(spec); err == nil {
		t.Error("a missing input column was accepted")
	}
	spec.Input, spec.Columns["x"] = "", Column{DType: tensor.Float32, Shape: []int{2, 3}}
	if _, err := MLP(spec); err == nil {
		t.Error("a rank-2 example was accepted by the MLP")
	}
	if n := Names(); len(n) == 0 || n[0] != "mlp" {
		t.Errorf("Names() = %v", n)
	}
}
