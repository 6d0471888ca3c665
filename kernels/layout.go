package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Transpose, Slice, Expand and Tile: each output element is one source
// element at an affine offset, so each is a stridedCopy planned in Prepare.

// shCheckOut verifies that output 0 exists with the wanted type and shape.
func shCheckOut(op string, out []*tensor.Tensor, dt tensor.DType, want tensor.Shape) error {
	if len(out) == 0 || out[0] == nil {
		return nil // unused output: nothing to check or write
	}
	if out[0].DType != dt || !out[0].Shape.Equal(want) {
		return fmt.Errorf("%s: output is %v, want %v%v", op, out[0], dt, want)
	}
	return nil
}

// shOutputUsed reports whether output 0 is wanted.
func shOutputUsed(out []*tensor.Tensor) bool { return len(out) > 0 && out[0] != nil }

// shNoop is the step of a node with nothing to write.
var shNoop = Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { return nil }}

func newTranspose(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		perm, err := graph.TransposePerm(n, x.Rank())
		if err != nil {
			return Step{}, err
		}
		shape := make(tensor.Shape, len(perm))
		strides := make([]int, len(perm))
		inStrides := x.Shape.Strides()
		for i, p := range perm {
			shape[i] = x.Shape[p]
			strides[i] = inStrides[p]
		}
		return stridedPrepare("Transpose", x.DType, out, shape, strides, 0)
	}), nil
}

// stridedPrepare checks output 0 against shape and returns the step that
// fills it from input 0 through a strided walk.
func stridedPrepare(op string, dt tensor.DType, out []*tensor.Tensor, shape tensor.Shape, strides []int, base int) (Step, error) {
	if err := shCheckOut(op, out, dt, shape); err != nil {
		return Step{}, err
	}
	if !shOutputUsed(out) {
		return shNoop, nil
	}
	p, err := newStridedCopy(dt, shape, strides, base)
	if err != nil {
		return Step{}, fmt.Errorf("%s: %w", op, err)
	}
	return stridedStep(p), nil
}

// shOperands describes run-time tensors as inference operands whose values
// are known.
func shOperands(in []*tensor.Tensor) []graph.Operand {
	ops := make([]graph.Operand, len(in))
	for i, t := range in {
		if t != nil {
			ops[i] = graph.Operand{Present: true, Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
		}
	}
	return ops
}

func newSlice(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		a, known, err := graph.SliceParams(n, opset, shOperands(in), x.Rank())
		if err != nil {
			return Step{}, fmt.Errorf("Slice: %w", err)
		}
		if !known {
			return Step{}, fmt.Errorf("Slice: parameters not known at prepare time")
		}
		shape, strides, base := sliceView(x.Shape, a)
		return stridedPrepare("Slice", x.DType, out, shape, strides, base)
	}), nil
}

func newExpand(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		shape := out[0].Shape
		if b, err := tensor.BroadcastShapes(x.Shape, shape); err != nil || !b.Equal(shape) {
			return Step{}, fmt.Errorf("Expand: %v does not broadcast to output %v", x.Shape, shape)
		}
		return stridedPrepare("Expand", x.DType, out, shape, tensor.BroadcastStrides(x.Shape, shape), 0)
	}), nil
}

func newTile(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x := in[0]
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		o := out[0]
		if o.Rank() != x.Rank() {
			return Step{}, fmt.Errorf("Tile: output %v for input %v", o.Shape, x.Shape)
		}
		// Output axis i of size r·d is walked as two axes (r, d): the
		// repeat, at source stride 0, and the input axis.
		inStrides := x.Shape.Strides()
		shape := make(tensor.Shape, 0, 2*x.Rank())
		strides := make([]int, 0, 2*x.Rank())
		for i, d := range x.Shape {
			r := 0
			if d > 0 {
				r = o.Shape[i] / d
			}
			if r*d != o.Shape[i] {
				return Step{}, fmt.Errorf("Tile: output %v is not a tiling of %v", o.Shape, x.Shape)
			}
			shape = append(shape, r, d)
			strides = append(strides, 0, inStrides[i])
		}
		if err := shCheckOut("Tile", out, x.DType, o.Shape); err != nil {
			return Step{}, err
		}
		p, err := newStridedCopy(x.DType, shape, strides, 0)
		if err != nil {
			return Step{}, fmt.Errorf("Tile: %w", err)
		}
		return stridedStep(p), nil
	}), nil
}

// shInput returns input i, or nil when it is absent.
func shInput(in []*tensor.Tensor, i int) *tensor.Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// sliceView returns the shape of Slice's output over an input of shape in,
// and the input's element strides and starting offset for reading it (the
// forward kernel reads through them; the gradient scatters through them).
func sliceView(in tensor.Shape, a graph.SliceArgs) (shape tensor.Shape, strides []int, base int) {
	shape = in.Clone()
	strides = in.Strides()
	for i, ax := range a.Axes {
		first, count := graph.SliceRange(int64(in[ax]), a.Starts[i], a.Ends[i], a.Steps[i])
		shape[ax] = int(count)
		if count > 0 {
			base += int(first) * strides[ax]
		}
		strides[ax] *= int(a.Steps[i])
	}
	return shape, strides, base
}
