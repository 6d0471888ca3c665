package graph

import (
	"slices"
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// gruModel mirrors torch 1.13's opset-13 export of a batch-first
// nn.GRU(4, 8) followed by Linear(8, 2) on the last step: the initial
// hidden state's shape [1, batch, 8] is computed from Shape(x) at run time.
func gruModel() *Builder {
	b := NewBuilder("gru", 13)
	b.Input("x", tensor.Float32, "batch", "sequence", 4)
	b.Initializer("W", randTensor(1, 1, 24, 4))
	b.Initializer("R", randTensor(2, 1, 24, 8))
	b.Initializer("B", randTensor(3, 1, 48))
	b.Initializer("l.weight", randTensor(4, 2, 8))
	b.Initializer("l.bias", randTensor(5, 2))
	s := b.Op("Shape", nil, "x")
	g0 := b.Op("Gather", map[string]*Attr{"axis": IntAttr(0)}, s, b.Constant(tensor.Scalar[int64](0)))
	one := b.Constant(tensor.From([]int64{1}, 1))
	uq := b.Op("Unsqueeze", nil, g0, b.Constant(tensor.From([]int64{0}, 1)))
	cat := b.Op("Concat", map[string]*Attr{"axis": IntAttr(0)}, one, uq, b.Constant(tensor.From([]int64{8}, 1)))
	h0 := b.Op("ConstantOfShape", map[string]*Attr{"value": TensorAttr(tensor.From([]float32{0}, 1))}, cat)
	xt := b.Op("Transpose", map[string]*Attr{"perm": IntsAttr(1, 0, 2)}, "x")
	b.Node("GRU", []string{xt, "W", "R", "B", "", h0}, []string{"Y", "Y_h"},
		map[string]*Attr{"hidden_size": IntAttr(8), "linear_before_reset": IntAttr(1)})
	sq := b.Op("Squeeze", nil, "Y", b.Constant(tensor.From([]int64{1}, 1)))
	yt := b.Op("Transpose", map[string]*Attr{"perm": IntsAttr(1, 0, 2)}, sq)
	last := b.Op("Gather", map[string]*Attr{"axis": IntAttr(1)}, yt, b.Constant(tensor.Scalar[int64](-1)))
	b.Node("Gemm", []string{last, "l.weight", "l.bias"}, []string{"out"},
		map[string]*Attr{"alpha": FloatAttr(1), "beta": FloatAttr(1), "transB": IntAttr(1)})
	b.Output("out")
	return b
}

func TestFoldGRUChainSymbolicBatch(t *testing.T) {
	g := gruModel().Graph()
	if len(g.Nodes) != 17 {
		t.Fatalf("export mirror has %d nodes, want 17", len(g.Nodes))
	}
	st, err := Optimize(g, refEval{}, OptimizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Only the six Constant nodes fold: the batch size is unknown.
	want := []string{"Shape", "Gather", "Unsqueeze", "Concat", "ConstantOfShape", "Transpose", "GRU", "Squeeze", "Transpose", "Gather", "Gemm"}
	if got := opList(g); !slices.Equal(got, want) {
		t.Fatalf("ops %v,\nwant %v", got, want)
	}
	if st.Folded != 6 || st.NodesAfter != 11 {
		t.Fatalf("stats %v", st)
	}
}

func TestFoldGRUChainBoundBatch(t *testing.T) {
	b := gruModel()
	g := b.Graph()
	st, err := Optimize(g, refEval{}, OptimizeOptions{Bindings: map[string]int64{"batch": 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Transpose", "GRU", "Squeeze", "Transpose", "Gather", "Gemm"}
	if got := opList(g); !slices.Equal(got, want) {
		t.Fatalf("ops %v,\nwant %v (stats %v)", got, want, st)
	}
	// Shape(x) itself cannot fold ("sequence" is still symbolic), but the
	// Gather of its now fixed dimension 0 does, and DCE drops the Shape: 6
	// Constants + Gather, Unsqueeze, Concat, ConstantOfShape fold.
	if st.Folded != 10 || st.Dead != 1 {
		t.Fatalf("stats %v, want 10 folded and 1 dead", st)
	}
	h0 := g.Nodes[1].Inputs[5]
	if h0.Const == nil || h0.Producer != nil || !h0.Const.Shape.Equal(tensor.Shape{1, 3, 8}) {
		t.Fatalf("GRU initial state %v is not a folded [1,3,8] constant", h0.Const)
	}
	if !slices.Contains(g.Initializers, h0) {
		t.Fatal("folded initial state is not recorded in g.Initializers")
	}
	if err := Validate(g); err != nil {
		t.Fatalf("folded graph does not validate: %v", err)
	}
}

func TestFoldShapeOfStaticDims(t *testing.T) {
	b := NewBuilder("partial", 15)
	b.Input("x", tensor.Float32, "batch", "sequence", 4, 5)
	s := b.Op("Shape", nil, "x")
	feat := b.Op("Gather", map[string]*Attr{"axis": IntAttr(0)}, s, b.Constant(tensor.Scalar[int64](-2)))
	batch := b.Op("Gather", map[string]*Attr{"axis": IntAttr(0)}, s, b.Constant(tensor.Scalar[int64](0)))
	tail := b.Op("Shape", map[string]*Attr{"start": IntAttr(-2)}, "x")
	sl := b.Op("Slice", nil, s, b.Constant(tensor.From([]int64{2}, 1)), b.Constant(tensor.From([]int64{100}, 1)))
	slDyn := b.Op("Slice", nil, s, b.Constant(tensor.From([]int64{1}, 1)), b.Constant(tensor.From([]int64{3}, 1)))
	size := b.Op("Size", nil, sl)
	b.Output(b.Op("Add", nil, feat, batch), b.Op("Mul", nil, tail, sl), b.Op("Concat", map[string]*Attr{"axis": IntAttr(0)}, slDyn, sl), b.Op("Neg", nil, size))
	g := b.Graph()
	if err := Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Fold(g, nil); err != nil {
		t.Fatal(err)
	}
	DCE(g)
	for _, name := range []string{feat, tail, sl, size} {
		c := b.Value(name).Const
		if c == nil {
			t.Fatalf("%s did not fold", name)
		}
		got, _ := c.Int64s()
		want := map[string][]int64{feat: {4}, tail: {4, 5}, sl: {4, 5}, size: {2}}[name]
		if !slices.Equal(got, want) {
			t.Fatalf("%s folded to %v, want %v", name, got, want)
		}
	}
	if b.Value(feat).Const.Rank() != 0 {
		t.Fatalf("Gather with a scalar index folded to shape %v, want a scalar", b.Value(feat).Const.Shape)
	}
	if b.Value(batch).Const != nil || b.Value(slDyn).Const != nil {
		t.Fatal("folded a dimension that is symbolic")
	}
	// The Shape node stays: the batch Gather and the symbolic Slice read it.
	if got := opList(g); !slices.Equal(got, []string{"Shape", "Gather", "Slice", "Add", "Mul", "Concat", "Neg"}) {
		t.Fatalf("ops %v", got)
	}
}

func TestFoldPreservesResults(t *testing.T) {
	b := NewBuilder("consts", 13)
	b.Input("x", tensor.Float32, 2, 3)
	b.Initializer("w", randTensor(7, 3))
	scaled := b.Op("Mul", nil, "w", b.Constant(tensor.Scalar[float32](0.5)))
	shifted := b.Op("Add", nil, scaled, b.Constant(tensor.From([]float32{1, 2, 3}, 3)))
	unsupported := b.Op("Exp", nil, shifted) // the evaluator refuses Exp: stays
	b.Output(b.Op("Add", nil, "x", shifted), unsupported)
	g := b.Graph()
	x := randTensor(8, 2, 3)
	before := run(t, g, map[string]*tensor.Tensor{"x": x})

	if err := Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	n, err := Fold(g, refusing{"Exp": true})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 { // two Constants, Mul, Add
		t.Fatalf("folded %d nodes, want 4", n)
	}
	DCE(g)
	if got := opList(g); !slices.Equal(got, []string{"Exp", "Add"}) {
		t.Fatalf("ops %v", got)
	}
	after := run(t, g, map[string]*tensor.Tensor{"x": x})
	assertClose(t, after[0], before[0], 1e-6)
	assertClose(t, after[1], before[1], 1e-6)
}

func TestFoldRespectsSizeCapAndOutputs(t *testing.T) {
	b := NewBuilder("big", 13)
	b.Input("x", tensor.Float32, 2048, 1024)
	big := b.Op("ConstantOfShape", nil, b.Constant(tensor.From([]int64{2048, 1024}, 2)))
	out := b.Constant(tensor.Scalar[float32](1))
	b.Output(b.Op("Add", nil, "x", big), out)
	g := b.Graph()
	if err := Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	n, err := Fold(g, refEval{})
	if err != nil {
		t.Fatal(err)
	}
	// Only the shape Constant folds: ConstantOfShape would make 2M elements
	// (over MaxFoldElements), and the other Constant is a graph output.
	if n != 1 || b.Value(big).Const != nil || b.Value(out).Producer == nil {
		t.Fatalf("folded %d; ConstantOfShape const %v; output producer %v", n, b.Value(big).Const, b.Value(out).Producer)
	}
}
