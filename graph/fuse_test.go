package graph

import (
	"math"
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

func f32(v float32) *tensor.Tensor { return tensor.Scalar(v) }

// checkRewrite runs g on input x, applies pass, checks the op list, runs g
// again and compares the outputs.
func checkRewrite(t *testing.T, g *Graph, x *tensor.Tensor, pass func(*Graph) error, wantOps []string) {
	t.Helper()
	in := map[string]*tensor.Tensor{g.Inputs[0].Name: x}
	before := run(t, g, in)
	if err := pass(g); err != nil {
		t.Fatal(err)
	}
	if got := opList(g); !slices.Equal(got, wantOps) {
		t.Fatalf("ops %v,\nwant %v", got, wantOps)
	}
	after := run(t, g, in)
	for i := range before {
		assertClose(t, after[i], before[i], 1e-5)
	}
}

func optimizePass(t *testing.T, bindings map[string]int64) func(*Graph) error {
	return func(g *Graph) error {
		st, err := Optimize(g, refEval{}, OptimizeOptions{Bindings: bindings})
		t.Logf("%s: %v", g.Name, st)
		return err
	}
}

func fusePass(g *Graph) error {
	_, err := Fuse(g)
	DCE(g)
	return err
}

func TestFuseGemmRelu(t *testing.T) {
	g := mlp().Graph()
	checkRewrite(t, g, randTensor(11, 3, 8), optimizePass(t, nil), []string{"FusedGemm", "Gemm"})
	n := g.Nodes[0]
	if n.Domain != SextantDomain || n.Str("activation", "") != "Relu" || n.Int("transB", 0) != 1 || len(n.Inputs) != 3 {
		t.Fatalf("FusedGemm %v has attrs %v", n, n.Attrs)
	}
	if err := Validate(g); err != nil {
		t.Fatal(err)
	}
}

// linearGeluBlock mirrors torch 1.13's export of
// Linear(8,16) → LayerNorm(16) → GELU(approximate) → Linear(16,4) on
// x[batch, sequence, 8]. Below opset 17 LayerNorm is decomposed.
func linearGeluBlock(opset int, approximate string) *Builder {
	b := NewBuilder("block", opset)
	b.Input("x", tensor.Float32, "batch", "sequence", 8)
	b.Initializer("w1", randTensor(1, 8, 16))
	b.Initializer("l1.bias", randTensor(2, 16))
	b.Initializer("ln.weight", randTensor(3, 16))
	b.Initializer("ln.bias", randTensor(4, 16))
	b.Initializer("w2", randTensor(5, 16, 4))
	b.Initializer("l2.bias", randTensor(6, 4))
	h := b.Op("Add", nil, "l1.bias", b.Op("MatMul", nil, "x", "w1"))
	var y string
	if opset >= 17 {
		b.Node("LayerNormalization", []string{h, "ln.weight", "ln.bias"}, []string{"ln"},
			map[string]*Attr{"axis": IntAttr(-1), "epsilon": FloatAttr(1e-5)})
		y = "ln"
	} else {
		y = layerNormDecomposed(b, h, "ln.weight", "ln.bias", -1)
	}
	if approximate == "tanh" {
		y = geluTanhTorch(b, y)
	} else {
		y = geluErfTorch(b, y)
	}
	b.Node("Add", []string{"l2.bias", b.Op("MatMul", nil, y, "w2")}, []string{"out"}, nil)
	b.Output("out")
	return b
}

// layerNormDecomposed writes torch's LayerNorm decomposition (opset < 17)
// over the given trailing axes.
func layerNormDecomposed(b *Builder, x, gamma, beta string, axes ...int64) string {
	ax := map[string]*Attr{"axes": IntsAttr(axes...)}
	d := b.Op("Sub", nil, x, b.Op("ReduceMean", ax, x))
	v := b.Op("ReduceMean", ax, b.Op("Pow", nil, d, b.Constant(f32(2))))
	y := b.Op("Div", nil, d, b.Op("Sqrt", nil, b.Op("Add", nil, v, b.Constant(f32(1e-5)))))
	if gamma != "" {
		y = b.Op("Mul", nil, y, gamma)
	}
	if beta != "" {
		y = b.Op("Add", nil, y, beta)
	}
	return y
}

// geluErfTorch writes torch's exact GELU: ((x·(erf(x/√2)+1))·0.5).
func geluErfTorch(b *Builder, x string) string {
	e := b.Op("Erf", nil, b.Op("Div", nil, x, b.Constant(f32(1.4142135381698608))))
	a := b.Op("Add", nil, e, b.Constant(f32(1)))
	return b.Op("Mul", nil, b.Op("Mul", nil, x, a), b.Constant(f32(0.5)))
}

// geluTanhTorch writes torch's tanh GELU.
func geluTanhTorch(b *Builder, x string) string {
	cube := b.Op("Mul", nil, x, b.Op("Mul", nil, x, x))
	inner := b.Op("Add", nil, x, b.Op("Mul", nil, b.Constant(f32(0.044714998453855515)), cube))
	th := b.Op("Tanh", nil, b.Op("Mul", nil, b.Constant(f32(0.7978845834732056)), inner))
	a := b.Op("Add", nil, b.Constant(f32(1)), th)
	return b.Op("Mul", nil, b.Constant(f32(0.5)), b.Op("Mul", nil, x, a))
}

func TestFuseLinearLayerNormGelu(t *testing.T) {
	for _, c := range []struct {
		opset  int
		approx string
		nodes  int // as torch exports it
	}{{13, "none", 23}, {13, "tanh", 28}, {14, "none", 23}, {17, "none", 13}, {17, "tanh", 18}} {
		b := linearGeluBlock(c.opset, c.approx)
		g := b.Graph()
		if len(g.Nodes) != c.nodes {
			t.Fatalf("opset %d %s: mirror has %d nodes, torch exports %d", c.opset, c.approx, len(g.Nodes), c.nodes)
		}
		checkRewrite(t, g, randTensor(12, 2, 3, 8), optimizePass(t, nil),
			[]string{"FusedMatMul", "LayerNormalization", "Gelu", "FusedMatMul"})
		ln, gelu := g.Nodes[1], g.Nodes[2]
		if ln.Int("axis", 0) != -1 || math.Abs(float64(ln.Float("epsilon", 0))-1e-5) > 1e-9 || len(ln.Inputs) != 3 {
			t.Fatalf("LayerNormalization %v: attrs %v, %d inputs", ln, ln.Attrs, len(ln.Inputs))
		}
		if ln.Inputs[1] != b.Value("ln.weight") || ln.Inputs[2] != b.Value("ln.bias") {
			t.Fatal("LayerNormalization does not read ln.weight and ln.bias")
		}
		if got := gelu.Str("approximate", ""); got != c.approx {
			t.Fatalf("Gelu approximate %q, want %q", got, c.approx)
		}
		for _, i := range []int{0, 3} {
			if n := g.Nodes[i]; n.Inputs[2].Const == nil || n.Inputs[2].Const.Rank() != 1 || n.HasAttr("activation") {
				t.Fatalf("%v: bias %v, attrs %v", n, n.Inputs[2].Const, n.Attrs)
			}
		}
		if err := Validate(g); err != nil {
			t.Fatalf("fused graph does not validate: %v", err)
		}
		if len(g.Initializers) != 6 {
			t.Fatalf("%d initializers left, want the 6 weights", len(g.Initializers))
		}
	}
}

func TestFuseMatMulGeluActivation(t *testing.T) {
	for _, approx := range []string{"none", "tanh"} {
		b := NewBuilder("linear_gelu", 13)
		b.Input("x", tensor.Float32, "batch", 8)
		b.Initializer("w", randTensor(1, 8, 16))
		b.Initializer("bias", randTensor(2, 16))
		h := b.Op("Add", nil, "bias", b.Op("MatMul", nil, "x", "w"))
		if approx == "tanh" {
			b.Output(geluTanhTorch(b, h))
		} else {
			b.Output(geluErfTorch(b, h))
		}
		g := b.Graph()
		checkRewrite(t, g, randTensor(3, 5, 8), optimizePass(t, nil), []string{"FusedMatMul"})
		want := map[string]string{"none": "Gelu", "tanh": "GeluTanh"}[approx]
		if got := g.Nodes[0].Str("activation", ""); got != want {
			t.Fatalf("activation %q, want %q", got, want)
		}
	}
}

func TestFuseMatMulBiasActivations(t *testing.T) {
	for _, act := range []string{"Relu", "LeakyRelu", "Sigmoid", "Tanh"} {
		b := NewBuilder("act", 13)
		b.Input("x", tensor.Float32, 2, 3, 8)
		b.Initializer("w", randTensor(1, 8, 4))
		b.Initializer("bias", randTensor(2, 1, 1, 4)) // broadcastable as [4]
		var attrs map[string]*Attr
		if act == "LeakyRelu" {
			attrs = map[string]*Attr{"alpha": FloatAttr(0.2)}
		}
		b.Output(b.Op(act, attrs, b.Op("Add", nil, b.Op("MatMul", nil, "x", "w"), "bias")))
		g := b.Graph()
		checkRewrite(t, g, randTensor(3, 2, 3, 8), optimizePass(t, nil), []string{"FusedMatMul"})
		n := g.Nodes[0]
		if n.Str("activation", "") != act || !n.Inputs[2].Const.Shape.Equal(tensor.Shape{4}) {
			t.Fatalf("%s: attrs %v, bias %v", act, n.Attrs, n.Inputs[2].Const)
		}
		if act == "LeakyRelu" && n.Float("activation_alpha", 0) != 0.2 {
			t.Fatalf("activation_alpha %v, want 0.2", n.Float("activation_alpha", 0))
		}
	}
}

func TestFuseMatMulRefusals(t *testing.T) {
	cases := map[string]func(b *Builder) string{
		// The product is read twice: fusing would recompute or lose it.
		"shared product": func(b *Builder) string {
			mm := b.Op("MatMul", nil, "x", "w")
			return b.Op("Mul", nil, b.Op("Add", nil, mm, "bias"), mm)
		},
		// A bias of 2×4 elements is not a per-column bias.
		"matrix bias": func(b *Builder) string {
			return b.Op("Add", nil, b.Op("MatMul", nil, "x", "w"), "bias2")
		},
		// A rank-3 bias would raise the rank-2 product's rank.
		"rank-raising bias": func(b *Builder) string {
			return b.Op("Add", nil, b.Op("MatMul", nil, "x", "w"), "bias3")
		},
	}
	for name, build := range cases {
		b := NewBuilder(name, 13)
		b.Input("x", tensor.Float32, 2, 8)
		b.Initializer("w", randTensor(1, 8, 4))
		b.Initializer("bias", randTensor(2, 4))
		b.Initializer("bias2", randTensor(3, 2, 4))
		b.Initializer("bias3", randTensor(4, 1, 1, 4))
		b.Output(build(b))
		g := b.Graph()
		if err := Infer(g, nil); err != nil {
			t.Fatal(err)
		}
		want := opList(g)
		if n, err := Fuse(g); err != nil || n != 0 || !slices.Equal(opList(g), want) {
			t.Fatalf("%s: Fuse made %d rewrites (err %v): %v", name, n, err, opList(g))
		}
	}
}

func TestFuseLayerNormVariants(t *testing.T) {
	cases := []struct {
		name  string
		build func(b *Builder) string
		axis  int64
	}{
		{"no affine", func(b *Builder) string { return layerNormDecomposed(b, "x", "", "", -1) }, -1},
		{"scale only", func(b *Builder) string { return layerNormDecomposed(b, "x", "g", "", -1) }, -1},
		{"positive axis", func(b *Builder) string { return layerNormDecomposed(b, "x", "g", "beta", 2) }, -1},
		{"two axes", func(b *Builder) string { return layerNormDecomposed(b, "x", "g2", "beta2", -2, -1) }, -2},
		{"padded params", func(b *Builder) string { return layerNormDecomposed(b, "x", "g3", "beta3", -1) }, -1},
		{"square and reciprocal", func(b *Builder) string {
			ax := map[string]*Attr{"axes": IntsAttr(-1)}
			d := b.Op("Sub", nil, "x", b.Op("ReduceMean", ax, "x"))
			v := b.Op("ReduceMean", ax, b.Op("Mul", nil, d, d))
			r := b.Op("Reciprocal", nil, b.Op("Sqrt", nil, b.Op("Add", nil, b.Constant(f32(1e-6)), v)))
			return b.Op("Add", nil, "beta", b.Op("Mul", nil, "g", b.Op("Mul", nil, r, d)))
		}, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBuilder("ln", 13)
			b.Input("x", tensor.Float32, 2, 3, 8)
			b.Initializer("g", randTensor(1, 8))
			b.Initializer("beta", randTensor(2, 8))
			b.Initializer("g2", randTensor(3, 3, 8))
			b.Initializer("beta2", randTensor(4, 3, 8))
			b.Initializer("g3", randTensor(5, 1, 1, 8))
			b.Initializer("beta3", randTensor(6, 1, 8))
			b.Output(c.build(b))
			g := b.Graph()
			checkRewrite(t, g, randTensor(7, 2, 3, 8), fusePass, []string{"LayerNormalization"})
			if got := g.Nodes[0].Int("axis", 0); got != c.axis {
				t.Fatalf("axis %d, want %d", got, c.axis)
			}
		})
	}
}

func TestFuseLayerNormKeepsUnfittingScale(t *testing.T) {
	// γ of shape [2,3,8] varies over non-normalized axes: LayerNormalization
	// cannot take it, so the Mul stays after a LayerNormalization with a
	// Scale of ones (and the β after it stays too, following the Mul).
	b := NewBuilder("ln", 13)
	b.Input("x", tensor.Float32, 2, 3, 8)
	b.Initializer("g", randTensor(1, 2, 3, 8))
	b.Initializer("beta", randTensor(2, 8))
	b.Output(layerNormDecomposed(b, "x", "g", "beta", -1))
	g := b.Graph()
	checkRewrite(t, g, randTensor(7, 2, 3, 8), fusePass, []string{"LayerNormalization", "Mul", "Add"})
	if len(g.Nodes[0].Inputs) != 2 || g.Nodes[0].Inputs[1].Const == nil {
		t.Fatalf("LayerNormalization inputs %v, want X and a constant Scale", g.Nodes[0].Inputs)
	}
}

func TestFuseLayerNormRefusals(t *testing.T) {
	cases := map[string]func(b *Builder) string{
		// Normalizing over the middle axis is not a LayerNorm over trailing axes.
		"middle axis": func(b *Builder) string { return layerNormDecomposed(b, "x", "", "", 1) },
		// The variance is also an output.
		"shared variance": func(b *Builder) string {
			ax := map[string]*Attr{"axes": IntsAttr(-1)}
			d := b.Op("Sub", nil, "x", b.Op("ReduceMean", ax, "x"))
			v := b.Op("ReduceMean", ax, b.Op("Pow", nil, d, b.Constant(f32(2))))
			b.Output(v)
			return b.Op("Div", nil, d, b.Op("Sqrt", nil, b.Op("Add", nil, v, b.Constant(f32(1e-5)))))
		},
		// Cubing is not squaring.
		"wrong exponent": func(b *Builder) string {
			ax := map[string]*Attr{"axes": IntsAttr(-1)}
			d := b.Op("Sub", nil, "x", b.Op("ReduceMean", ax, "x"))
			v := b.Op("ReduceMean", ax, b.Op("Pow", nil, d, b.Constant(f32(3))))
			return b.Op("Div", nil, d, b.Op("Sqrt", nil, b.Op("Add", nil, v, b.Constant(f32(1e-5)))))
		},
	}
	for name, build := range cases {
		b := NewBuilder(name, 13)
		b.Input("x", tensor.Float32, 2, 3, 8)
		b.Output(build(b))
		g := b.Graph()
		want := opList(g)
		if n, err := Fuse(g); err != nil || n != 0 || !slices.Equal(opList(g), want) {
			t.Fatalf("%s: Fuse made %d rewrites (err %v): %v", name, n, err, opList(g))
		}
	}
}

func TestFuseGeluOrderings(t *testing.T) {
	cases := []struct {
		name   string
		approx string
		build  func(b *Builder, x string) string
	}{
		{"torch erf", "none", geluErfTorch},
		{"torch tanh", "tanh", geluTanhTorch},
		{"half first", "none", func(b *Builder, x string) string {
			// 0.5·x·(1+erf(x·(1/√2))), as Hugging Face writes it.
			e := b.Op("Erf", nil, b.Op("Mul", nil, b.Constant(f32(0.70710678)), x))
			a := b.Op("Add", nil, b.Constant(f32(1)), e)
			return b.Op("Mul", nil, b.Op("Mul", nil, x, b.Constant(f32(0.5))), a)
		}},
		{"half of sum", "none", func(b *Builder, x string) string {
			e := b.Op("Erf", nil, b.Op("Div", nil, x, b.Constant(f32(1.41421356))))
			a := b.Op("Add", nil, e, b.Constant(f32(1)))
			return b.Op("Mul", nil, x, b.Op("Mul", nil, a, b.Constant(f32(0.5))))
		}},
		{"divide by two", "none", func(b *Builder, x string) string {
			e := b.Op("Erf", nil, b.Op("Div", nil, x, b.Constant(f32(1.41421356))))
			a := b.Op("Add", nil, e, b.Constant(f32(1)))
			return b.Op("Div", nil, b.Op("Mul", nil, a, x), b.Constant(f32(2)))
		}},
		{"tanh with Pow", "tanh", func(b *Builder, x string) string {
			cube := b.Op("Pow", nil, x, b.Constant(f32(3)))
			inner := b.Op("Add", nil, b.Op("Mul", nil, cube, b.Constant(f32(0.044715))), x)
			th := b.Op("Tanh", nil, b.Op("Mul", nil, inner, b.Constant(f32(0.7978845608))))
			a := b.Op("Add", nil, th, b.Constant(f32(1)))
			return b.Op("Mul", nil, b.Op("Mul", nil, a, b.Constant(f32(0.5))), x)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBuilder("gelu", 13)
			b.Input("x", tensor.Float32, 4, 8)
			b.Output(c.build(b, "x"))
			g := b.Graph()
			checkRewrite(t, g, randTensor(9, 4, 8), fusePass, []string{"Gelu"})
			if got := g.Nodes[0].Str("approximate", ""); got != c.approx {
				t.Fatalf("approximate %q, want %q", got, c.approx)
			}
			if g.Nodes[0].Inputs[0] != g.Inputs[0] {
				t.Fatal("Gelu does not read x")
			}
		})
	}
}

func TestFuseGeluRefusals(t *testing.T) {
	cases := map[string]func(b *Builder) string{
		"wrong divisor": func(b *Builder) string {
			e := b.Op("Erf", nil, b.Op("Div", nil, "x", b.Constant(f32(1.7320508))))
			a := b.Op("Add", nil, e, b.Constant(f32(1)))
			return b.Op("Mul", nil, b.Op("Mul", nil, "x", a), b.Constant(f32(0.5)))
		},
		"erf read elsewhere": func(b *Builder) string {
			e := b.Op("Erf", nil, b.Op("Div", nil, "x", b.Constant(f32(1.4142135))))
			b.Output(e)
			a := b.Op("Add", nil, e, b.Constant(f32(1)))
			return b.Op("Mul", nil, b.Op("Mul", nil, "x", a), b.Constant(f32(0.5)))
		},
		"different x": func(b *Builder) string {
			e := b.Op("Erf", nil, b.Op("Div", nil, "x", b.Constant(f32(1.4142135))))
			a := b.Op("Add", nil, e, b.Constant(f32(1)))
			return b.Op("Mul", nil, b.Op("Mul", nil, "y", a), b.Constant(f32(0.5)))
		},
		"wrong cubic": func(b *Builder) string {
			cube := b.Op("Mul", nil, "x", b.Op("Mul", nil, "x", "x"))
			inner := b.Op("Add", nil, "x", b.Op("Mul", nil, b.Constant(f32(0.05)), cube))
			th := b.Op("Tanh", nil, b.Op("Mul", nil, b.Constant(f32(0.7978845834732056)), inner))
			a := b.Op("Add", nil, b.Constant(f32(1)), th)
			return b.Op("Mul", nil, b.Constant(f32(0.5)), b.Op("Mul", nil, "x", a))
		},
	}
	for name, build := range cases {
		b := NewBuilder(name, 13)
		b.Input("x", tensor.Float32, 4, 8)
		b.Input("y", tensor.Float32, 4, 8)
		b.Output(build(b))
		g := b.Graph()
		want := opList(g)
		if n, err := Fuse(g); err != nil || n != 0 || !slices.Equal(opList(g), want) {
			t.Fatalf("%s: Fuse made %d rewrites (err %v): %v", name, n, err, opList(g))
		}
	}
}

func TestFuseSkipsUnsupportedFloatTypes(t *testing.T) {
	// The Gelu and LayerNormalization kernels take float32 and float64: a
	// float16 GELU stays decomposed.
	b := NewBuilder("half", 13)
	b.Input("x", tensor.Float16, 4, 8)
	half := func(v float32) string {
		return b.Constant(tensor.From([]tensor.Float16Bits{tensor.Float16FromFloat32(v)}))
	}
	e := b.Op("Erf", nil, b.Op("Div", nil, "x", half(1.4142135)))
	a := b.Op("Add", nil, e, half(1))
	b.Output(b.Op("Mul", nil, b.Op("Mul", nil, "x", a), half(0.5)))
	g := b.Graph()
	if n, err := Fuse(g); err != nil || n != 0 {
		t.Fatalf("Fuse made %d rewrites (err %v) of a float16 GELU", n, err)
	}
}
