package train

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
)

// Gradient rules of the operators that move or reduce elements.
func addShapeGradRules(m map[string]gradFunc) {
	for _, op := range []string{"Reshape", "Flatten", "Squeeze", "Unsqueeze"} {
		m[op] = reshapeGrad
	}
	m["Transpose"] = transposeGrad
	m["ReduceSum"] = reduceGrad(false)
	m["ReduceMean"] = reduceGrad(true)
	m["Gather"] = gatherGrad
	m["Concat"] = concatGrad
	m["Split"] = splitGrad
	m["Slice"] = sliceGrad
}

// reshapeGrad reshapes dY back to X's run-time shape.
func reshapeGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	x := n.Inputs[0]
	shape, err := e.one("Shape", nil, x)
	if err != nil {
		return nil, err
	}
	d, err := e.one("Reshape", nil, dy[0], shape)
	out := make([]*graph.Value, len(n.Inputs))
	out[0] = d
	return out, err
}

// transposeGrad applies the inverse permutation.
func transposeGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	perm, ok := n.Ints("perm")
	if !ok {
		r, err := rank(n.Inputs[0])
		if err != nil {
			return nil, err
		}
		perm = make([]int64, r)
		for i := range perm {
			perm[i] = int64(r - 1 - i)
		}
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		inv[p] = int64(i)
	}
	d, err := e.one("Transpose", map[string]*graph.Attr{"perm": graph.IntsAttr(inv...)}, dy[0])
	return []*graph.Value{d}, err
}

// reduceGrad broadcasts dY back over the reduced axes (the axes attribute,
// or the constant axes input from opset 13/18 on).
func reduceGrad(mean bool) gradFunc {
	return func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
		axes, _ := n.Ints("axes")
		if len(n.Inputs) > 1 && n.Inputs[1] != nil {
			c := graph.ConstValue(n.Inputs[1])
			if c == nil {
				return nil, fmt.Errorf("%s axes must be constant to differentiate", n.Op)
			}
			var err error
			if axes, err = c.Int64s(); err != nil {
				return nil, err
			}
		}
		out := make([]*graph.Value, len(n.Inputs))
		if len(axes) == 0 && n.Int("noop_with_empty_axes", 0) != 0 {
			out[0] = dy[0]
			return out, nil
		}
		at := map[string]*graph.Attr{"axes": graph.IntsAttr(axes...)}
		if mean {
			at["mean"] = graph.IntAttr(1)
		}
		var err error
		out[0], err = e.one("ReduceGrad", at, dy[0], n.Inputs[0])
		return out, err
	}
}

// gatherGrad scatters dY back into a dense gradient of Data.
func gatherGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	if need[1] {
		return nil, fmt.Errorf("Gather indices are not differentiable")
	}
	d, err := e.one("GatherGrad", copyAttrs(n, "axis"), dy[0], n.Inputs[1], n.Inputs[0])
	return []*graph.Value{d, nil}, err
}

// concatGrad splits dY into the inputs' slabs.
func concatGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	ins := append([]*graph.Value{dy[0]}, n.Inputs...)
	return e.node("ConcatGrad", copyAttrs(n, "axis"), ins, len(n.Inputs))
}

// splitGrad concatenates the outputs' gradients, zeros for outputs that
// have none.
func splitGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	parts := make([]*graph.Value, len(n.Outputs))
	for j, o := range n.Outputs {
		if o == nil {
			return nil, fmt.Errorf("Split with an unnamed output is not differentiable")
		}
		parts[j] = dy[j]
		if parts[j] == nil {
			z, err := e.one("ZerosLike", nil, o)
			if err != nil {
				return nil, err
			}
			parts[j] = z
		}
	}
	d, err := e.one("Concat", map[string]*graph.Attr{"axis": graph.IntAttr(n.Int("axis", 0))}, parts...)
	out := make([]*graph.Value, len(n.Inputs))
	out[0] = d
	return out, err
}

// sliceGrad writes dY into zeros at the sliced positions (opset ≥ 10 form,
// with starts, ends, axes and steps as inputs).
func sliceGrad(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error) {
	if len(n.Inputs) < 3 {
		return nil, fmt.Errorf("Slice before opset 10 (attribute form) is not differentiable")
	}
	ins := append([]*graph.Value{dy[0]}, n.Inputs...)
	d, err := e.one("SliceGrad", nil, ins...)
	out := make([]*graph.Value, len(n.Inputs))
	out[0] = d
	return out, err
}
