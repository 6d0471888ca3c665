package train

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sextant-ml/sextant/engine"
	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Every gradient rule is checked against central finite differences in
// float64: the loss is Σ y·R for a fixed random R (so every element of dY
// differs), the analytic gradients come from Backward through the engine,
// and the numeric ones from perturbing each parameter element by ±h.

// randT is a float64 tensor with entries in ±scale, kept at least 0.05 away
// from 0 so kinks (Relu at 0) are not straddled by the finite difference.
func randT(r *rand.Rand, scale float64, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float64, shape...)
	for i := range tensor.Data[float64](t) {
		v := (0.05 + r.Float64()) * scale
		if r.IntN(2) == 0 {
			v = -v
		}
		tensor.Data[float64](t)[i] = v
	}
	return t
}

type gradCase struct {
	name   string
	params []string
	// build adds the forward graph to b (initializers "p…" are the
	// parameters) and returns the value to differentiate.
	build func(b *graph.Builder, r *rand.Rand) string
}

func attrs(kv ...any) map[string]*graph.Attr {
	m := map[string]*graph.Attr{}
	for i := 0; i < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case int:
			m[kv[i].(string)] = graph.IntAttr(int64(v))
		case float64:
			m[kv[i].(string)] = graph.FloatAttr(float32(v))
		case string:
			m[kv[i].(string)] = graph.StringAttr(v)
		case []int64:
			m[kv[i].(string)] = graph.IntsAttr(v...)
		}
	}
	return m
}

func ints(v ...int64) *tensor.Tensor { return tensor.From(v, len(v)) }

var gradCases = []gradCase{
	{"MatMul2D", []string{"pa", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 3, 4))
		b.Initializer("pb", randT(r, 1, 4, 5))
		return b.Op("MatMul", nil, "pa", "pb")
	}},
	{"MatMulBatchedBroadcast", []string{"pa", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 2, 3, 4))
		b.Initializer("pb", randT(r, 1, 4, 5))
		return b.Op("MatMul", nil, "pa", "pb")
	}},
	{"GemmTrans", []string{"pa", "pb", "pc"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 4, 3))
		b.Initializer("pb", randT(r, 1, 5, 4))
		b.Initializer("pc", randT(r, 1, 5))
		return b.Op("Gemm", attrs("transA", 1, "transB", 1, "alpha", 0.5, "beta", 2.0), "pa", "pb", "pc")
	}},
	{"Gemm", []string{"pa", "pb", "pc"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 3, 4))
		b.Initializer("pb", randT(r, 1, 4, 5))
		b.Initializer("pc", randT(r, 1, 3, 1))
		return b.Op("Gemm", nil, "pa", "pb", "pc")
	}},
	{"ArithBroadcast", []string{"pa", "pb", "pc", "pd"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 3, 4))
		b.Initializer("pb", randT(r, 1, 4))
		b.Initializer("pc", randT(r, 1, 3, 1))
		b.Initializer("pd", randT(r, 1, 1, 4))
		s := b.Op("Sub", nil, b.Op("Add", nil, "pa", "pb"), "pc")
		return b.Op("Div", nil, b.Op("Mul", nil, s, "pd"), b.Op("Add", nil, "pc", b.Constant(tensor.Scalar(3.0))))
	}},
	{"Activations", []string{"pa"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 2, 3, 4))
		x := b.Op("Relu", nil, "pa")
		y := b.Op("LeakyRelu", attrs("alpha", 0.2), "pa")
		z := b.Op("Sigmoid", nil, "pa")
		w := b.Op("Tanh", nil, "pa")
		u := b.Op("Gelu", nil, "pa")
		v := b.Op("Gelu", attrs("approximate", "tanh"), "pa")
		return b.Op("Add", nil, b.Op("Add", nil, b.Op("Mul", nil, x, y), b.Op("Mul", nil, z, w)), b.Op("Mul", nil, u, v))
	}},
	{"Softmax", []string{"pa"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 2, 3, 4))
		return b.Op("Add", nil, b.Op("Softmax", attrs("axis", 0), "pa"), b.Op("LogSoftmax", nil, "pa"))
	}},
	{"LayerNorm", []string{"px", "ps", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("px", randT(r, 1, 3, 2, 5))
		b.Initializer("ps", randT(r, 1, 2, 5))
		b.Initializer("pb", randT(r, 1, 2, 5))
		return b.Op("LayerNormalization", attrs("axis", -2, "epsilon", 1e-3), "px", "ps", "pb")
	}},
	{"ReshapeTransposeReduce", []string{"pa"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 2, 6))
		x := b.Op("Reshape", nil, "pa", b.Constant(ints(3, 2, 2)))
		y := b.Op("Transpose", attrs("perm", []int64{1, 0, 2}), x)
		s := b.Op("ReduceSum", attrs("keepdims", 1), y, b.Constant(ints(1)))
		m := b.Op("ReduceMean", attrs("axes", []int64{0, 2}, "keepdims", 0), y)
		f := b.Op("Flatten", attrs("axis", 1), s)
		f = b.Op("Squeeze", nil, b.Op("Unsqueeze", nil, f, b.Constant(ints(0))), b.Constant(ints(0)))
		return b.Op("Mul", nil, b.Op("Unsqueeze", nil, m, b.Constant(ints(1))), b.Op("ReduceMean", attrs("axes", []int64{0}, "keepdims", 1), f))
	}},
	{"GatherEmbedding", []string{"pe"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pe", randT(r, 1, 5, 3))
		return b.Op("Gather", nil, "pe", b.Constant(tensor.From([]int64{1, 4, 1, -1}, 2, 2)))
	}},
	{"ConcatSplitSlice", []string{"pa", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 2, 3))
		b.Initializer("pb", randT(r, 1, 2, 4))
		c := b.Op("Concat", attrs("axis", 1), "pa", "pb")
		b.Node("Split", []string{c, b.Constant(ints(2, 5))}, []string{"s0", "s1"}, attrs("axis", 1))
		sl := b.Op("Slice", nil, "s1", b.Constant(ints(0, 4)), b.Constant(ints(2, -6)), b.Constant(ints(0, 1)), b.Constant(ints(1, -2)))
		return b.Op("Concat", attrs("axis", 1), sl, "s0", b.Op("Tanh", nil, c))
	}},
	{"Conv1D", []string{"px", "pw", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("px", randT(r, 1, 2, 4, 9))
		b.Initializer("pw", randT(r, 1, 6, 2, 3))
		b.Initializer("pb", randT(r, 1, 6))
		return b.Op("Conv", attrs("strides", []int64{2}, "pads", []int64{1, 1}, "dilations", []int64{2}, "group", 2), "px", "pw", "pb")
	}},
	{"GRU", []string{"px", "pw", "pr", "pb", "ph"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("px", randT(r, 1, 4, 2, 3))
		b.Initializer("pw", randT(r, 0.5, 1, 15, 3))
		b.Initializer("pr", randT(r, 0.5, 1, 15, 5))
		b.Initializer("pb", randT(r, 0.5, 1, 30))
		b.Initializer("ph", randT(r, 0.5, 1, 2, 5))
		b.Node("GRU", []string{"px", "pw", "pr", "pb", "", "ph"}, []string{"y", "yh"}, attrs("hidden_size", 5))
		return b.Op("Add", nil, b.Op("ReduceSum", attrs("keepdims", 0), "y", b.Constant(ints(0))), b.Op("Squeeze", nil, "yh", b.Constant(ints(0))))
	}},
	{"GRULinearBeforeReset", []string{"px", "pw", "pr", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("px", randT(r, 1, 3, 2, 4))
		b.Initializer("pw", randT(r, 0.5, 1, 9, 4))
		b.Initializer("pr", randT(r, 0.5, 1, 9, 3))
		b.Initializer("pb", randT(r, 0.5, 1, 18))
		b.Node("GRU", []string{"px", "pw", "pr", "pb"}, []string{"y", ""}, attrs("hidden_size", 3, "linear_before_reset", 1))
		return "y"
	}},
	{"DecomposedLayerNormAndGelu", []string{"px", "ps"}, func(b *graph.Builder, r *rand.Rand) string {
		// PyTorch's pre-opset-17 LayerNorm export and erf GELU, unfused.
		b.Initializer("px", randT(r, 1, 3, 5))
		b.Initializer("ps", randT(r, 1, 5))
		mean := b.Op("ReduceMean", attrs("axes", []int64{-1}), "px")
		d := b.Op("Sub", nil, "px", mean)
		v := b.Op("ReduceMean", attrs("axes", []int64{-1}), b.Op("Pow", nil, d, b.Constant(tensor.Scalar(2.0))))
		y := b.Op("Mul", nil, b.Op("Div", nil, d, b.Op("Sqrt", nil, b.Op("Add", nil, v, b.Constant(tensor.Scalar(1e-5))))), "ps")
		erf := b.Op("Erf", nil, b.Op("Div", nil, y, b.Constant(tensor.Scalar(1.4142135623730951))))
		return b.Op("Mul", nil, b.Op("Mul", nil, y, b.Op("Add", nil, erf, b.Constant(tensor.Scalar(1.0)))), b.Constant(tensor.Scalar(0.5)))
	}},
	{"ExpLogAbsExpandWhereCast", []string{"pa", "pb"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 3, 4))
		b.Initializer("pb", randT(r, 1, 4))
		e := b.Op("Exp", nil, "pa")
		l := b.Op("Log", nil, b.Op("Abs", nil, "pa"))
		s := b.Op("Tanh", nil, b.Op("Expand", nil, "pb", b.Constant(ints(3, 4))))
		cond := b.Constant(tensor.From([]bool{true, false, true, false}, 4))
		w := b.Op("Where", nil, cond, "pa", "pb")
		c := b.Op("Cast", attrs("to", int(tensor.Float64)), w)
		return b.Op("Add", nil, b.Op("Add", nil, b.Op("Mul", nil, e, l), s), c)
	}},
	{"DropoutTrain", []string{"pa"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pa", randT(r, 1, 4, 8))
		b.Node("DropoutTrain", []string{"pa", b.Constant(tensor.Scalar(int64(7)))}, []string{"dy", "dm"}, attrs("ratio", 0.3))
		return "dy"
	}},
	{"SoftmaxCrossEntropy", []string{"pz"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pz", randT(r, 2, 4, 3))
		b.Initializer("w", tensor.From([]float64{0.5, 2, 1.25}, 3))
		labels := b.Constant(tensor.From([]int64{2, 0, 1, 2}, 4))
		return b.Op("SoftmaxCrossEntropy", attrs("label_smoothing", 0.1), "pz", labels, "w")
	}},
	{"RegressionLosses", []string{"pp", "pt"}, func(b *graph.Builder, r *rand.Rand) string {
		b.Initializer("pp", randT(r, 2, 3, 4))
		b.Initializer("pt", randT(r, 1, 3, 4))
		return b.Op("Add", nil, b.Op("MSELoss", nil, "pp", "pt"), b.Op("HuberLoss", attrs("delta", 0.7), "pp", "pt"))
	}},
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	for _, c := range gradCases {
		t.Run(c.name, func(t *testing.T) {
			checkGradCase(t, c)
		})
	}
}

func checkGradCase(t *testing.T, c gradCase) {
	r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
	b := graph.NewBuilder(c.name, 17)
	y := c.build(b, r)
	g := b.Graph()
	for _, n := range g.Nodes {
		if n.Op == "DropoutTrain" || n.Op == "SoftmaxCrossEntropy" || n.Op == "MSELoss" || n.Op == "HuberLoss" {
			n.Domain = graph.SextantDomain
		}
	}
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}
	shape, ok := b.Value(y).Type.Concrete()
	if !ok {
		t.Fatalf("output type %v not concrete", b.Value(y).Type)
	}
	b.Initializer("rproj", randT(r, 1, shape...))
	loss := b.Op("ReduceSum", attrs("keepdims", 0), b.Op("Mul", nil, y, "rproj"))
	b.Output(loss)
	if err := graph.Infer(g, nil); err != nil {
		t.Fatal(err)
	}

	tg := cloneGraph(g)
	params, inits, err := promoteParams(tg, c.params)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := Backward(tg, tg.Outputs[0], params)
	if err != nil {
		t.Fatal(err)
	}
	tg.Outputs = append(tg.Outputs, grads...)
	m, err := engine.Compile(tg, engine.Options{NoOptimize: true})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewSession()
	ins := make([]*tensor.Tensor, len(inits))
	for i, p := range inits {
		ins[i] = p.Clone()
	}
	ctx := context.Background()
	outs, err := s.Run(ctx, ins)
	if err != nil {
		t.Fatal(err)
	}
	analytic := make([]*tensor.Tensor, len(grads))
	for i := range grads {
		analytic[i] = outs[1+i].Clone()
	}
	lossAt := func() float64 {
		o, err := s.Run(ctx, ins)
		if err != nil {
			t.Fatal(err)
		}
		return o[0].Float64At(0)
	}
	const h = 1e-6
	for i, p := range ins {
		d := tensor.Data[float64](p)
		for j := range d {
			orig := d[j]
			d[j] = orig + h
			lp := lossAt()
			d[j] = orig - h
			lm := lossAt()
			d[j] = orig
			num := (lp - lm) / (2 * h)
			got := analytic[i].Float64At(j)
			if math.Abs(got-num) > 1e-6+1e-5*math.Abs(num) {
				t.Errorf("d loss / d %s[%d] = %.9g, finite difference %.9g", c.params[i], j, got, num)
			}
		}
	}
}
