package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// prepareConv builds op (Conv or FusedConv) with W and B given as graph
// constants or, with constW false, as plain inputs, the way the engine
// presents them.
func prepareConv(t testing.TB, op string, attrs map[string]*graph.Attr, constW bool, in ...*tensor.Tensor) *nodeRun {
	t.Helper()
	n := &graph.Node{Op: op, Attrs: attrs, Outputs: []*graph.Value{{Name: "y"}}}
	if op == "FusedConv" {
		n.Domain = graph.SextantDomain
	}
	ops := make([]graph.Operand, len(in))
	for i, x := range in {
		v := &graph.Value{Name: fmt.Sprint("in", i), Type: graph.ShapeOf(x.DType, x.Shape)}
		if i > 0 && constW {
			v.Const = x
		}
		n.Inputs = append(n.Inputs, v)
		ops[i] = graph.Operand{Present: true, Type: v.Type, Const: v.Const}
	}
	types, err := graph.InferNode(n, 11, ops)
	if err != nil {
		t.Fatalf("infer %s: %v", op, err)
	}
	s, _ := types[0].Concrete()
	o := tensor.New(tensor.Float32, s...)
	for j := range o.Raw {
		o.Raw[j] = 0xff
	}
	k, err := New(n, 11)
	if err != nil {
		t.Fatal(err)
	}
	r := &nodeRun{node: n, opset: 11, in: in, out: []*tensor.Tensor{o}}
	if r.step, err = k.Prepare(in, r.out); err != nil {
		t.Fatalf("prepare %s: %v", op, err)
	}
	r.buf = tensor.AlignedBytes(r.step.Scratch)
	for j := range r.buf {
		r.buf[j] = 0xff // NaN: the path must not read scratch it did not write
	}
	return r
}

// TestConv1dPath runs the float32 1-D path (conv1d.go) over output lengths
// around the 16-column panels, strides, dilations and pads, with constant
// and non-constant weights, with and without bias, and fused activations,
// against the float64 reference, without allocating.
func TestConv1dPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	acts := map[string]func(float64) float64{
		"":          func(x float64) float64 { return x },
		"Relu":      func(x float64) float64 { return math.Max(x, 0) },
		"LeakyRelu": func(x float64) float64 { return map[bool]float64{true: 0.1 * x, false: x}[x < 0] },
		"Sigmoid":   func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
		"Gelu":      func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) },
	}
	type geom struct{ n, c, l, m, k, s, d, pb, pe int }
	geoms := []geom{
		{1, 16, 128, 32, 5, 1, 1, 0, 0}, // the bench conv net's first layer
		{1, 3, 16, 4, 1, 1, 1, 0, 0},    // 1×1, one full panel
		{2, 5, 20, 7, 3, 1, 1, 1, 1},    // T 20: one full panel, a tail of 4
		{1, 2, 3, 3, 3, 1, 1, 0, 0},     // T 1
		{1, 4, 40, 9, 4, 2, 1, 2, 1},    // stride 2
		{1, 3, 50, 5, 3, 3, 2, 0, 2},    // stride 3, dilation 2
		{2, 6, 33, 13, 2, 1, 3, 3, 0},   // dilation 3, pad at the start only
	}
	for gi, g := range geoms {
		x, w := randT(rng, g.n, g.c, g.l), randT(rng, g.m, g.c, g.k)
		b := randT(rng, g.m)
		attrs := map[string]*graph.Attr{
			"strides": attrInts(int64(g.s)), "dilations": attrInts(int64(g.d)), "pads": attrInts(int64(g.pb), int64(g.pe)),
		}
		for _, bias := range []bool{false, true} {
			var bt *tensor.Tensor
			in := []*tensor.Tensor{x, w}
			if bias {
				bt = b
				in = append(in, b)
			}
			ref, shape := refConv(x, w, bt, []int{g.s}, []int{g.d}, []int{g.pb, g.pe}, 1)
			for name, f := range acts {
				want := make([]float64, len(ref))
				for i, v := range ref {
					want[i] = f(v)
				}
				op := "FusedConv"
				a := map[string]*graph.Attr{"activation": attrStr(name), "activation_alpha": attrFloat(0.1)}
				if name == "" {
					op, a = "Conv", map[string]*graph.Attr{}
				}
				for k, v := range attrs {
					a[k] = v
				}
				for _, constW := range []bool{true, false} {
					r := prepareConv(t, op, a, constW, in...)
					r.run(t)
					what := fmt.Sprintf("geometry %d %+v bias=%v act=%q constW=%v", gi, g, bias, name, constW)
					assertClose(t, what, r.out[0], want, shape, 1e-5, 1e-4)
					if n := testing.AllocsPerRun(5, func() { r.run(t) }); n != 0 {
						t.Errorf("%s: Run allocates %v times", what, n)
					}
				}
			}
		}
	}
}

// TestFusedConv2D checks FusedConv's activation on the general (im2col)
// path, here 2-D with groups.
func TestFusedConv2D(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	x, w, b := randT(rng, 1, 4, 6, 5), randT(rng, 6, 2, 3, 3), randT(rng, 6)
	ref, shape := refConv(x, w, b, []int{1, 1}, []int{1, 1}, []int{1, 1, 1, 1}, 2)
	for i, v := range ref {
		ref[i] = math.Tanh(v)
	}
	attrs := map[string]*graph.Attr{"pads": attrInts(1, 1, 1, 1), "group": attrInt(2), "activation": attrStr("Tanh")}
	r := prepareConv(t, "FusedConv", attrs, true, x, w, b)
	r.run(t)
	assertClose(t, "FusedConv 2-D Tanh", r.out[0], ref, shape, 1e-5, 1e-4)
	if _, err := New(&graph.Node{Op: "FusedConv", Attrs: map[string]*graph.Attr{"activation": attrStr("Swish")}}, 11); err == nil {
		t.Error("FusedConv accepted activation Swish")
	}
}

// TestReluRow32 checks the branch-free float32 Relu on every length up to
// two blocks, in place and not, with NaN kept.
func TestReluRow32(t *testing.T) {
	nan := float32(math.NaN())
	for n := 0; n <= 17; n++ {
		a := make([]float32, n)
		for i := range a {
			a[i] = float32(i%5) - 2.5
		}
		if n > 3 {
			a[3] = nan
		}
		d := make([]float32, n)
		reluRow32(d, a)
		for i, v := range a {
			want := v
			if v < 0 {
				want = 0
			}
			if got := d[i]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
				t.Fatalf("n=%d: relu(%v) = %v", n, v, got)
			}
		}
		reluRow32(a, a)
		for i := range a {
			if a[i] != d[i] && !math.IsNaN(float64(a[i])) {
				t.Fatalf("n=%d in place: element %d = %v, want %v", n, i, a[i], d[i])
			}
		}
	}
}

// TestGlobalAvg32 checks the blocked float32 mean on planes longer than a
// block, where a single float32 sum would lose digits.
func TestGlobalAvg32(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	for _, size := range []int{1, 7, 8, 120, 513, 5000} {
		x := randT(rng, 2, 3, size)
		for i := range tensor.Data[float32](x) {
			tensor.Data[float32](x)[i] += 100
		}
		xv := f64s(x)
		want := make([]float64, 6)
		for p := range want {
			s := 0.0
			for _, v := range xv[p*size : (p+1)*size] {
				s += v
			}
			want[p] = s / float64(size)
		}
		got := runOp(t, "GlobalAveragePool", 1, nil, 1, x)[0]
		assertClose(t, fmt.Sprint("GlobalAveragePool ", size), got, want, tensor.Shape{2, 3, 1}, 1e-6, 1e-6)
	}
}

func BenchmarkConv1dNet(b *testing.B) {
	rng := rand.New(rand.NewPCG(67, 68))
	relu := map[string]*graph.Attr{"activation": attrStr("Relu")}
	l1 := prepareConv(b, "FusedConv", relu, true, randT(rng, 1, 16, 128), randT(rng, 32, 16, 5), randT(rng, 32))
	l2 := prepareConv(b, "FusedConv", relu, true, randT(rng, 1, 32, 124), randT(rng, 32, 32, 5), randT(rng, 32))
	b.ReportAllocs()
	for b.Loop() {
		l1.run(b)
		l2.run(b)
	}
	b.ReportMetric(2*(32*80*124+32*160*120)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestConv1dStoredWeight checks that the 1-D path uses a stored
// Conv1dLayout in place when its bias column is the node's bias, and
// rebuilds it (reporting a repack) when not, e.g. a W shared by two
// convolutions with different biases.
func TestConv1dStoredWeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(69, 70))
	w, b1, b2 := randT(rng, 5, 3, 4), randT(rng, 5), randT(rng, 5)
	node := func(b *tensor.Tensor) *graph.Node {
		return &graph.Node{Op: "Conv", Inputs: []*graph.Value{{Name: "x"}, {Name: "w", Const: w}, {Name: "b", Const: b}}}
	}
	stored := Conv1dWeight(node(b1))
	if stored == nil || len(stored.Raw) != 4*5*13 {
		t.Fatalf("Conv1dWeight gave %v", stored)
	}
	for _, c := range []struct {
		bias     *tensor.Tensor
		repacked bool
	}{{b1, false}, {b2, true}} {
		n := node(c.bias)
		n.Inputs[1].Layouts = map[string]*tensor.Tensor{Conv1dLayout: stored}
		k, err := newConv(n, 11)
		if err != nil {
			t.Fatal(err)
		}
		ck := k.(*convKernel)
		if ck.Repacked() != c.repacked {
			t.Errorf("bias %v: Repacked() = %v, want %v", c.bias == b2, ck.Repacked(), c.repacked)
		}
		if inPlace := &ck.a1d[0] == &tensor.Cast[float32](stored.Raw)[0]; inPlace == c.repacked {
			t.Errorf("bias %v: stored weight used in place = %v", c.bias == b2, inPlace)
		}
		for i := 0; i < 5; i++ {
			if got, want := ck.a1d[i*13+12], tensor.Data[float32](c.bias)[i]; got != want {
				t.Fatalf("bias column %d = %v, want %v", i, got, want)
			}
		}
	}
	if Conv1dWeight(&graph.Node{Op: "Conv", Inputs: []*graph.Value{{Name: "x"}, {Name: "w"}}}) != nil {
		t.Error("Conv1dWeight packed a W that is not a constant")
	}
}
