package graph

import (
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// convNet mirrors torch's export of Conv1d(4→6, k3) → act → Conv1d(6→2, k3)
// on x[1, 4, 16], with the activation node given by act (nil: none).
func convNet(dt tensor.DType, act func(b *Builder, x string) string) *Builder {
	b := NewBuilder("convnet", 13)
	b.Input("x", dt, 1, 4, 16)
	w1, w2 := randTensor(1, 6, 4, 3), randTensor(2, 2, 6, 3)
	if dt == tensor.Float64 {
		w1, w2 = tensor.New(tensor.Float64, 6, 4, 3), tensor.New(tensor.Float64, 2, 6, 3)
	}
	b.Initializer("c1.weight", w1)
	b.Initializer("c2.weight", w2)
	attrs := map[string]*Attr{"kernel_shape": IntsAttr(3), "pads": IntsAttr(1, 1)}
	h := b.Op("Conv", attrs, "x", "c1.weight")
	if act != nil {
		h = act(b, h)
	}
	b.Node("Conv", []string{h, "c2.weight"}, []string{"y"}, attrs)
	b.Output("y")
	return b
}

func TestFuseConvActivation(t *testing.T) {
	for op, want := range map[string]string{"Relu": "Relu", "LeakyRelu": "LeakyRelu", "Sigmoid": "Sigmoid", "Tanh": "Tanh"} {
		g := convNet(tensor.Float32, func(b *Builder, x string) string {
			return b.Op(op, map[string]*Attr{"alpha": FloatAttr(0.25)}, x)
		}).Graph()
		if err := Infer(g, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := Fuse(g); err != nil {
			t.Fatal(err)
		}
		DCE(g)
		if got := opList(g); !slices.Equal(got, []string{"FusedConv", "Conv"}) {
			t.Fatalf("%s: ops %v", op, got)
		}
		n := g.Nodes[0]
		if n.Domain != SextantDomain || n.Str("activation", "") != want || len(n.Inputs) != 2 {
			t.Fatalf("%s: FusedConv %v attrs %v", op, n, n.Attrs)
		}
		if ks, _ := n.Ints("kernel_shape"); !slices.Equal(ks, []int64{3}) {
			t.Errorf("%s: Conv attributes not kept: %v", op, n.Attrs)
		}
		if op == "LeakyRelu" && n.Float("activation_alpha", 0) != 0.25 {
			t.Errorf("LeakyRelu alpha %v, want 0.25", n.Float("activation_alpha", 0))
		}
		if err := Infer(g, nil); err != nil {
			t.Fatalf("%s: infer after fusion: %v", op, err)
		}
		if s := g.Nodes[1].Inputs[0].Type.String(); s != "float32[1,6,16]" {
			t.Errorf("%s: fused output type %s", op, s)
		}
		if err := Validate(g); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFuseConvRefusals(t *testing.T) {
	relu := func(b *Builder, x string) string { return b.Op("Relu", nil, x) }
	cases := map[string]*Graph{
		"no activation": convNet(tensor.Float32, nil).Graph(),
		"float64":       convNet(tensor.Float64, relu).Graph(),
		"second reader": func() *Graph {
			b := convNet(tensor.Float32, func(b *Builder, x string) string {
				b.Node("Identity", []string{x}, []string{"tap"}, nil)
				return b.Op("Relu", nil, x)
			})
			b.Output("tap")
			return b.Graph()
		}(),
		"graph output": func() *Graph {
			b := convNet(tensor.Float32, func(b *Builder, x string) string {
				b.Output(x)
				return b.Op("Relu", nil, x)
			})
			return b.Graph()
		}(),
		"Exp": convNet(tensor.Float32, func(b *Builder, x string) string { return b.Op("Exp", nil, x) }).Graph(),
	}
	for name, g := range cases {
		if err := Infer(g, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Fuse(g); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(opList(g), "FusedConv") {
			t.Errorf("%s: fused: %v", name, opList(g))
		}
	}
}

func TestFusedConvSchemaRejectsUnknownActivation(t *testing.T) {
	n := &Node{Op: "FusedConv", Domain: SextantDomain, Attrs: map[string]*Attr{"activation": StringAttr("Swish")},
		Outputs: []*Value{{Name: "y"}}}
	x := Operand{Present: true, Type: ShapeOf(tensor.Float32, tensor.Shape{1, 2, 8})}
	w := Operand{Present: true, Type: ShapeOf(tensor.Float32, tensor.Shape{3, 2, 3})}
	if _, err := InferNode(n, 13, []Operand{x, w}); err == nil {
		t.Fatal("FusedConv with activation Swish inferred")
	}
	n.Attrs["activation"] = StringAttr("Relu")
	types, err := InferNode(n, 13, []Operand{x, w})
	if err != nil {
		t.Fatal(err)
	}
	if s := types[0].String(); s != "float32[1,3,6]" {
		t.Errorf("FusedConv output %s, want float32[1,3,6]", s)
	}
}
