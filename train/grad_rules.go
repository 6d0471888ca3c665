package train

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
)

// gradRules maps a forward operator to its gradient rule. Rules emit graph
// nodes: reused forward operators (MatMul, Gemm, Mul, Transpose, Reshape)
// where they express the derivative, and the ai.sextant gradient operators
// (kernels/grad_*.go) where they do not. It is built once and never
// modified.
var gradRules = buildGradRules()

func buildGradRules() map[string]gradFunc {
	m := map[string]gradFunc{
		"MatMul": matMulGrad, "Gemm": gemmGrad,
		"Add": binaryGrad, "Sub": binaryGrad, "Mul": binaryGrad, "Div": binaryGrad,
		"Neg": func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
			d, err := e.one("Neg", nil, dy[0])
			return []*graph.Value{d}, err
		},
		"Identity": func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
			return []*graph.Value{dy[0]}, nil
		},
		"Relu":       pointwiseGrad("ReluGrad", false),
		"LeakyRelu":  pointwiseGrad("LeakyReluGrad", false, "alpha"),
		"Sigmoid":    pointwiseGrad("SigmoidGrad", true),
		"Tanh":       pointwiseGrad("TanhGrad", true),
		"Gelu":       pointwiseGrad("GeluGrad", false, "approximate"),
		"Softmax":    pointwiseGrad("SoftmaxGrad", true, "axis"),
		"LogSoftmax": pointwiseGrad("LogSoftmaxGrad", true, "axis"),

		"LayerNormalization": layerNormGrad,
		"DropoutTrain":       dropoutGrad,
		"Conv":               convGrad,
		"GRU":                gruGrad,

		"SoftmaxCrossEntropy": lossGrad("SoftmaxCrossEntropyGrad", "label_smoothing"),
		"MSELoss":             lossGrad("MSELossGrad"),
		"HuberLoss":           lossGrad("HuberLossGrad", "delta"),
	}
	addShapeGradRules(m)
	addMathGradRules(m)
	return m
}

// copyAttrs returns the named attributes of n that it carries.
func copyAttrs(n *graph.Node, names ...string) map[string]*graph.Attr {
	m := map[string]*graph.Attr{}
	for _, k := range names {
		if a, ok := n.Attrs[k]; ok {
			m[k] = a
		}
	}
	return m
}

// pointwiseGrad is the rule of an activation whose derivative op reads
// (dY, X), or (dY, Y) when fromOutput.
func pointwiseGrad(op string, fromOutput bool, attrs ...string) gradFunc {
	return func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		a := n.Inputs[0]
		if fromOutput {
			a = n.Outputs[0]
		}
		d, err := e.one(op, copyAttrs(n, attrs...), dy[0], a)
		return []*graph.Value{d}, err
	}
}

// sameType reports whether two values certainly have the same shape
// (identical known dimensions, symbolic ones by name).
func sameType(a, b *graph.Value) bool {
	if !a.Type.Known || !b.Type.Known || len(a.Type.Shape) != len(b.Type.Shape) {
		return false
	}
	for i, d := range a.Type.Shape {
		o := b.Type.Shape[i]
		if d.Size != o.Size || d.Sym != o.Sym || (!d.IsFixed() && d.Sym == "") {
			return false
		}
	}
	return true
}

// unbroadcast sums d (shaped like the op's output y) down to x's shape.
func unbroadcast(e *emitter, d, x, y *graph.Value) (*graph.Value, error) {
	if sameType(x, y) {
		return d, nil
	}
	return e.one("ReduceSumTo", nil, d, x)
}

// binaryGrad differentiates Add, Sub, Mul and Div with NumPy broadcasting.
func binaryGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	a, b, y, d := n.Inputs[0], n.Inputs[1], n.Outputs[0], dy[0]
	out := make([]*graph.Value, 2)
	var err error
	var da, db *graph.Value
	switch n.Op {
	case "Add":
		da, db = d, d
	case "Sub":
		da = d
		if need[1] {
			if db, err = e.one("Neg", nil, d); err != nil {
				return nil, err
			}
		}
	case "Mul":
		if need[0] {
			if da, err = e.one("Mul", nil, d, b); err != nil {
				return nil, err
			}
		}
		if need[1] {
			if db, err = e.one("Mul", nil, d, a); err != nil {
				return nil, err
			}
		}
	case "Div":
		// y = a/b: da = d/b, db = −d·y/b.
		if need[0] {
			if da, err = e.one("Div", nil, d, b); err != nil {
				return nil, err
			}
		}
		if need[1] {
			q, err := e.one("Div", nil, y, b)
			if err == nil {
				q, err = e.one("Mul", nil, d, q)
			}
			if err == nil {
				db, err = e.one("Neg", nil, q)
			}
			if err != nil {
				return nil, err
			}
		}
	}
	if need[0] {
		if out[0], err = unbroadcast(e, da, a, y); err != nil {
			return nil, err
		}
	}
	if need[1] {
		if out[1], err = unbroadcast(e, db, b, y); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func rank(v *graph.Value) (int, error) {
	if !v.Type.Known {
		return 0, fmt.Errorf("the rank of %q is not known", v.Name)
	}
	return len(v.Type.Shape), nil
}

// swapLast transposes the last two axes of v.
func swapLast(e *emitter, v *graph.Value, r int) (*graph.Value, error) {
	perm := make([]int64, r)
	for i := range perm {
		perm[i] = int64(i)
	}
	perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
	return e.one("Transpose", map[string]*graph.Attr{"perm": graph.IntsAttr(perm...)}, v)
}

// matMulGrad: for Y = A·B, dA = dY·Bᵀ and dB = Aᵀ·dY, summed over broadcast
// batch axes. Rank-2 products use Gemm's transpose flags.
func matMulGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	a, b, y, d := n.Inputs[0], n.Inputs[1], n.Outputs[0], dy[0]
	ra, err := rank(a)
	if err != nil {
		return nil, err
	}
	rb, err := rank(b)
	if err != nil {
		return nil, err
	}
	if ra < 2 || rb < 2 {
		return nil, fmt.Errorf("MatMul gradient needs operands of rank ≥ 2, got %d and %d", ra, rb)
	}
	out := make([]*graph.Value, 2)
	if ra == 2 && rb == 2 {
		if need[0] {
			if out[0], err = e.one("Gemm", map[string]*graph.Attr{"transB": graph.IntAttr(1)}, d, b); err != nil {
				return nil, err
			}
		}
		if need[1] {
			if out[1], err = e.one("Gemm", map[string]*graph.Attr{"transA": graph.IntAttr(1)}, a, d); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	if need[0] {
		bt, err := swapLast(e, b, rb)
		if err != nil {
			return nil, err
		}
		da, err := e.one("MatMul", nil, d, bt)
		if err != nil {
			return nil, err
		}
		if out[0], err = unbroadcastMatMul(e, da, a, y); err != nil {
			return nil, err
		}
	}
	if need[1] {
		at, err := swapLast(e, a, ra)
		if err != nil {
			return nil, err
		}
		db, err := e.one("MatMul", nil, at, d)
		if err != nil {
			return nil, err
		}
		if out[1], err = unbroadcastMatMul(e, db, b, y); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// unbroadcastMatMul sums a batched operand gradient g down to x's shape
// when x's batch axes were broadcast.
func unbroadcastMatMul(e *emitter, g, x, y *graph.Value) (*graph.Value, error) {
	if sameType(g, x) {
		return g, nil
	}
	return e.one("ReduceSumTo", nil, g, x)
}

// gemmGrad differentiates Y = α·op(A)·op(B) + β·C (op transposes when
// transA/transB is set).
func gemmGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	a, b, d := n.Inputs[0], n.Inputs[1], dy[0]
	alpha, beta := n.Float("alpha", 1), n.Float("beta", 1)
	ta, tb := n.Int("transA", 0) != 0, n.Int("transB", 0) != 0
	gemm := func(x, y *graph.Value, tx, ty bool) (*graph.Value, error) {
		at := map[string]*graph.Attr{"alpha": graph.FloatAttr(alpha)}
		if tx {
			at["transA"] = graph.IntAttr(1)
		}
		if ty {
			at["transB"] = graph.IntAttr(1)
		}
		return e.one("Gemm", at, x, y)
	}
	out := make([]*graph.Value, len(n.Inputs))
	var err error
	if need[0] {
		// d op(A) = α·dY·op(B)ᵀ.
		if !ta {
			out[0], err = gemm(d, b, false, !tb)
		} else {
			out[0], err = gemm(b, d, tb, true)
		}
		if err != nil {
			return nil, err
		}
	}
	if need[1] {
		// d op(B) = α·op(A)ᵀ·dY.
		if !tb {
			out[1], err = gemm(a, d, !ta, false)
		} else {
			out[1], err = gemm(d, a, true, ta)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(need) > 2 && need[2] {
		c := n.Inputs[2]
		dc := d
		if beta != 1 {
			if dc, err = e.one("Mul", nil, d, e.scalar(d.Type.DType, float64(beta))); err != nil {
				return nil, err
			}
		}
		if out[2], err = unbroadcast(e, dc, c, n.Outputs[0]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// layerNormGrad differentiates LayerNormalization's main output.
func layerNormGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	for j := 1; j < len(dy); j++ {
		if dy[j] != nil {
			return nil, fmt.Errorf("gradients through LayerNormalization's Mean/InvStdDev outputs are not supported")
		}
	}
	outs, err := e.node("LayerNormalizationGrad", copyAttrs(n, "axis", "epsilon"), []*graph.Value{dy[0], n.Inputs[0], n.Inputs[1]}, 3)
	if err != nil {
		return nil, err
	}
	res := []*graph.Value{outs[0], outs[1], nil}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		res[2] = outs[2]
	}
	return res, nil
}

// dropoutGrad is dY·Mask.
func dropoutGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	if dy[1] != nil {
		return nil, fmt.Errorf("gradient through a dropout mask")
	}
	d, err := e.one("Mul", nil, dy[0], n.Outputs[1])
	return []*graph.Value{d, nil}, err
}

// convGrad differentiates a 1-D Conv.
func convGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	outs, err := e.node("ConvGrad", copyAttrs(n, "strides", "pads", "dilations", "group", "auto_pad"), []*graph.Value{dy[0], n.Inputs[0], n.Inputs[1]}, 3)
	if err != nil {
		return nil, err
	}
	return outs[:len(n.Inputs)], nil
}

// lossGrad differentiates a loss with respect to its prediction (and, for
// the regression losses, the target: the negated prediction gradient).
func lossGrad(op string, attrs ...string) gradFunc {
	return func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		ins := append([]*graph.Value{dy[0]}, n.Inputs...)
		d, err := e.one(op, copyAttrs(n, attrs...), ins...)
		if err != nil {
			return nil, err
		}
		out := make([]*graph.Value, len(n.Inputs))
		out[0] = d
		if len(need) > 2 && need[2] {
			return nil, fmt.Errorf("class weights are not differentiable")
		}
		if need[1] {
			if op == "SoftmaxCrossEntropyGrad" {
				return nil, fmt.Errorf("labels are not differentiable")
			}
			if out[1], err = e.one("Neg", nil, d); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}

// gruGrad differentiates a single-direction forward GRU (see GRUGrad in
// kernels/grad_rnn.go for the supported attributes).
func gruGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	if n.Str("direction", "forward") != "forward" || n.Int("layout", 0) != 0 || n.HasAttr("clip") || n.HasAttr("activations") {
		return nil, fmt.Errorf("only forward, layout-0 GRUs with default activations and no clip are differentiable")
	}
	if n.Input(4) != nil {
		return nil, fmt.Errorf("GRU with sequence_lens is not differentiable")
	}
	var dY, dYh *graph.Value
	if len(dy) > 0 {
		dY = dy[0]
	}
	if len(dy) > 1 {
		dYh = dy[1]
	}
	ins := []*graph.Value{dY, dYh, n.Inputs[0], n.Inputs[1], n.Inputs[2], n.Input(3), n.Input(5)}
	outs, err := e.node("GRUGrad", copyAttrs(n, "hidden_size", "linear_before_reset"), ins, 5)
	if err != nil {
		return nil, err
	}
	res := make([]*graph.Value, len(n.Inputs))
	res[0], res[1], res[2] = outs[0], outs[1], outs[2]
	if len(res) > 3 && n.Inputs[3] != nil {
		res[3] = outs[3]
	}
	if len(res) > 5 && n.Inputs[5] != nil {
		res[5] = outs[4]
	}
	return res, nil
}
