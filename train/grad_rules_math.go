package train

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Gradient rules of the elementwise math operators that exported models use
// outside the fused patterns (PyTorch's decomposed LayerNorm and GELU:
// ReduceMean, Sub, Pow, Sqrt, Div, Erf), plus Expand, Where and Cast.
func addMathGradRules(m map[string]gradFunc) {
	m["Exp"] = func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		d, err := e.one("Mul", nil, dy[0], n.Outputs[0]) // exp' = exp
		return []*graph.Value{d}, err
	}
	m["Log"] = func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		d, err := e.one("Div", nil, dy[0], n.Inputs[0])
		return []*graph.Value{d}, err
	}
	m["Sqrt"] = func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		// √x' = 1/(2√x) = 0.5/y.
		h, err := e.one("Mul", nil, dy[0], e.scalar(dy[0].Type.DType, 0.5))
		if err != nil {
			return nil, err
		}
		d, err := e.one("Div", nil, h, n.Outputs[0])
		return []*graph.Value{d}, err
	}
	m["Abs"] = pointwiseGrad("AbsGrad", false)
	m["Erf"] = pointwiseGrad("ErfGrad", false)
	m["Pow"] = powGrad
	m["Expand"] = func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		d, err := e.one("ReduceSumTo", nil, dy[0], n.Inputs[0])
		return []*graph.Value{d, nil}, err
	}
	m["Cast"] = func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		x := n.Inputs[0]
		if !x.Type.DType.IsFloat() {
			return nil, fmt.Errorf("Cast from %v is not differentiable", x.Type.DType)
		}
		d, err := e.one("Cast", map[string]*graph.Attr{"to": graph.IntAttr(int64(x.Type.DType))}, dy[0])
		return []*graph.Value{d}, err
	}
	m["Where"] = whereGrad
}

// powGrad differentiates X^E for a constant exponent E: dX = dY·E·X^(E−1).
func powGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	x, ex := n.Inputs[0], n.Inputs[1]
	if need[1] {
		return nil, fmt.Errorf("Pow is differentiable in its base only")
	}
	c := graph.ConstValue(ex)
	if c == nil || !c.DType.IsFloat() && !c.DType.IsInt() {
		return nil, fmt.Errorf("Pow needs a constant exponent to differentiate")
	}
	dt := x.Type.DType
	em1 := tensor.New(dt, c.Shape...)
	coef := tensor.New(dt, c.Shape...)
	for i := 0; i < c.Len(); i++ {
		setFloat(em1, i, c.Float64At(i)-1)
		setFloat(coef, i, c.Float64At(i))
	}
	p, err := e.one("Pow", nil, x, e.constant(em1))
	if err == nil {
		p, err = e.one("Mul", nil, p, e.constant(coef))
	}
	if err == nil {
		p, err = e.one("Mul", nil, dy[0], p)
	}
	if err != nil {
		return nil, err
	}
	d, err := unbroadcast(e, p, x, n.Outputs[0])
	return []*graph.Value{d, nil}, err
}

// whereGrad routes dY to A where the condition holds and to B elsewhere.
func whereGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	if need[0] {
		return nil, fmt.Errorf("Where's condition is not differentiable")
	}
	zero, err := e.one("ZerosLike", nil, dy[0])
	if err != nil {
		return nil, err
	}
	out := make([]*graph.Value, 3)
	for i, pair := range [][2]*graph.Value{{dy[0], zero}, {zero, dy[0]}} {
		if !need[i+1] {
			continue
		}
		d, err := e.one("Where", nil, n.Inputs[0], pair[0], pair[1])
		if err == nil {
			d, err = unbroadcast(e, d, n.Inputs[i+1], n.Outputs[0])
		}
		if err != nil {
			return nil, err
		}
		out[i+1] = d
	}
	return out, nil
}
