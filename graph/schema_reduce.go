package graph

import (
	"fmt"
	"slices"
)

// ReduceOps are the ONNX reductions Sextant implements.
var ReduceOps = []string{
	"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
	"ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp",
}

// ReduceAxesIsInput reports whether reduction op takes its axes as its second
// input at opset (ReduceSum from opset 13, the others from opset 18) rather
// than as the axes attribute.
func ReduceAxesIsInput(op string, opset int) bool {
	if op == "ReduceSum" {
		return opset >= 13
	}
	return opset >= 18
}

func addReduceSchemas(add func(*Schema)) {
	for _, op := range ReduceOps {
		op := op
		add(&Schema{
			Op: op, MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferReduce,
			ValueInputs: func(opset int) []int {
				if ReduceAxesIsInput(op, opset) {
					return []int{1}
				}
				return nil
			},
		})
	}
}

// ReduceAxes returns the normalized, sorted, de-duplicated axes a reduction
// node reduces over a tensor of the given rank; axesInput is the value of its
// axes input when it takes one (nil when omitted). noop reports that the node
// returns its input unchanged (empty axes with noop_with_empty_axes=1).
func ReduceAxes(n *Node, opset, rank int, axesInput []int64) (axes []int, noop bool, err error) {
	var raw []int64
	if ReduceAxesIsInput(n.Op, opset) {
		raw = axesInput
	} else {
		raw, _ = n.Ints("axes")
	}
	if len(raw) == 0 {
		if n.Int("noop_with_empty_axes", 0) != 0 {
			return nil, true, nil
		}
		axes = make([]int, rank)
		for i := range axes {
			axes[i] = i
		}
		return axes, false, nil
	}
	for _, a := range raw {
		ax, err := NormAxis(a, rank)
		if err != nil {
			return nil, false, err
		}
		if !slices.Contains(axes, ax) {
			axes = append(axes, ax)
		}
	}
	slices.Sort(axes)
	return axes, false, nil
}

func inferReduce(n *Node, opset int, in []Operand) ([]Type, error) {
	x := in[0].Type
	if x.DType == 0 || !(x.DType.IsFloat() || x.DType.IsInt()) {
		return nil, fmt.Errorf("unsupported input type %v", x.DType)
	}
	keep := n.Int("keepdims", 1) != 0
	if !x.Known {
		return nnOuts(n, Type{DType: x.DType}), nil
	}
	var axesIn []int64
	if ReduceAxesIsInput(n.Op, opset) && len(in) > 1 && in[1].Present {
		v, ok := ConstInts(in[1])
		if !ok {
			// Axes decided at run time: the rank is known only with keepdims.
			if t := in[1].Type; t.Known && len(t.Shape) == 1 && t.Shape[0].IsFixed() && t.Shape[0].Size == 0 {
				v = nil // statically empty
			} else {
				if keep {
					dims := make([]Dim, len(x.Shape))
					for i := range dims {
						dims[i] = Unknown()
					}
					return nnOuts(n, nnKnown(in[0], dims)), nil
				}
				return nnOuts(n, Type{DType: x.DType}), nil
			}
		}
		axesIn = v
	}
	axes, noop, err := ReduceAxes(n, opset, len(x.Shape), axesIn)
	if err != nil {
		return nil, err
	}
	if noop {
		return nnOuts(n, Same(in[0])), nil
	}
	var dims []Dim
	for i, d := range x.Shape {
		switch {
		case !slices.Contains(axes, i):
			dims = append(dims, d)
		case keep:
			dims = append(dims, Fixed(1))
		}
	}
	return nnOuts(n, nnKnown(in[0], dims)), nil
}
