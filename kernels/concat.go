package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Concat and Split view their tensors as [outer, axis·inner] matrices: each
// input (output) is a band of columns of the wide one, moved row by row.

func newConcat(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if len(in) == 0 || in[0] == nil {
			return Step{}, fmt.Errorf("Concat: no inputs")
		}
		x0 := in[0]
		axis, err := graph.NormAxis(n.Int("axis", 1), x0.Rank())
		if err != nil {
			return Step{}, fmt.Errorf("Concat: %w", err)
		}
		shape := x0.Shape.Clone()
		shape[axis] = 0
		for i, x := range in {
			if x == nil || x.DType != x0.DType || x.Rank() != x0.Rank() {
				return Step{}, fmt.Errorf("Concat: input %d is %v, input 0 is %v", i, x, x0)
			}
			for d := range shape {
				if d != axis && x.Shape[d] != x0.Shape[d] {
					return Step{}, fmt.Errorf("Concat: input %d is %v, input 0 is %v", i, x, x0)
				}
			}
			shape[axis] += x.Shape[axis]
		}
		if err := shCheckOut("Concat", out, x0.DType, shape); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		outer := shape[:axis].NumElements()
		inner := shape[axis+1:].NumElements()
		row := shape[axis] * inner
		widths := make([]int, len(in))
		for i, x := range in {
			widths[i] = x.Shape[axis] * inner
		}
		es := x0.DType.Size()
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			off := 0
			for i, w := range widths {
				moveBlocks(out[0], in[i], es, outer, w, off, row, 0, w)
				off += w
			}
			return nil
		}}, nil
	}), nil
}

func newSplit(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		axis, err := graph.NormAxis(n.Int("axis", 0), x.Rank())
		if err != nil {
			return Step{}, fmt.Errorf("Split: %w", err)
		}
		sizes, known, err := graph.SplitSizes(n, opset, shOperands(in), len(out), int64(x.Shape[axis]))
		if err != nil {
			return Step{}, fmt.Errorf("Split: %w", err)
		}
		if !known {
			return Step{}, fmt.Errorf("Split: sizes not known at prepare time")
		}
		if err := sameDType("Split", x.DType, out); err != nil {
			return Step{}, err
		}
		outer := x.Shape[:axis].NumElements()
		inner := x.Shape[axis+1:].NumElements()
		row := x.Shape[axis] * inner
		widths := make([]int, len(out))
		for i, o := range out {
			want := x.Shape.Clone()
			want[axis] = int(sizes[i])
			if o != nil && !o.Shape.Equal(want) {
				return Step{}, fmt.Errorf("Split: output %d is %v, want %v", i, o.Shape, want)
			}
			widths[i] = int(sizes[i]) * inner
		}
		es := x.DType.Size()
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			off := 0
			for i, w := range widths {
				if out[i] != nil {
					moveBlocks(out[i], in[0], es, outer, w, 0, w, off, row)
				}
				off += w
			}
			return nil
		}}, nil
	}), nil
}
