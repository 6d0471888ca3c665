package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Pad (ONNX docs/Operators.md): pads an attribute before opset 11, input 1
// from then on (with constant_value as input 2), and from opset 18 an
// optional axes input 3 naming the axes the pads apply to.

func addPadSchema(add func(*Schema)) {
	add(&Schema{Op: "Pad", MinInputs: 1, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1, Infer: inferPad,
		ValueInputs: func(opset int) []int {
			switch {
			case opset >= 18:
				return []int{1, 3}
			case opset >= 11:
				return []int{1}
			}
			return nil
		}})
}

// PadAmounts returns a Pad node's begin and end pads for every axis of a
// rank-rank input, as [b0, ..., b(r-1), e0, ..., e(r-1)] (negative ones
// crop). known is false when an input's value is not known.
func PadAmounts(n *Node, opset int, in []Operand, rank int) (pads []int64, known bool, err error) {
	if opset < 11 {
		p, ok := n.Ints("pads")
		if !ok {
			return nil, false, fmt.Errorf("missing attribute pads")
		}
		if len(p) != 2*rank {
			return nil, false, fmt.Errorf("%d pads for a rank-%d input", len(p), rank)
		}
		return p, true, nil
	}
	op := shOperand(in, 1)
	if !op.Present {
		return nil, false, fmt.Errorf("missing input pads")
	}
	if op.Type.DType != tensor.Undefined && op.Type.DType != tensor.Int64 {
		return nil, false, fmt.Errorf("pads must be int64, got %v", op.Type.DType)
	}
	p, ok := ConstInts(op)
	if !ok {
		return nil, false, nil
	}
	axes := make([]int, rank)
	for i := range axes {
		axes[i] = i
	}
	if ax := shOperand(in, 3); opset >= 18 && ax.Present {
		a, ok := ConstInts(ax)
		if !ok {
			return nil, false, nil
		}
		if axes, err = shNormAxes(a, rank, opset); err != nil {
			return nil, false, err
		}
	}
	if len(p) != 2*len(axes) {
		return nil, false, fmt.Errorf("%d pads for %d axes", len(p), len(axes))
	}
	pads = make([]int64, 2*rank)
	for i, a := range axes {
		pads[a], pads[rank+a] = p[i], p[len(axes)+i]
	}
	return pads, true, nil
}

func inferPad(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	switch m := n.Str("mode", "constant"); m {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	if cv := shOperand(in, 2); opset >= 11 && cv.Present && cv.Type.DType != t.DType &&
		cv.Type.DType != tensor.Undefined && t.DType != tensor.Undefined {
		return nil, fmt.Errorf("constant_value is %v, data is %v", cv.Type.DType, t.DType)
	}
	if !t.Known {
		return []Type{{DType: t.DType}}, nil
	}
	r := len(t.Shape)
	pads, known, err := PadAmounts(n, opset, in, r)
	if err != nil {
		return nil, err
	}
	out := make([]Dim, r)
	for i, d := range t.Shape {
		switch {
		case !known:
			out[i] = Unknown()
		case pads[i] == 0 && pads[r+i] == 0:
			out[i] = d
		case d.IsFixed():
			s := d.Size + pads[i] + pads[r+i]
			if s < 0 {
				return nil, fmt.Errorf("pads %v crop axis %d of size %d below 0", pads, i, d.Size)
			}
			out[i] = Fixed(s)
		default:
			out[i] = Unknown()
		}
	}
	return []Type{shKnown(t.DType, out)}, nil
}
