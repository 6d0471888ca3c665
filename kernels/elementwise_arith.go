package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// newBinary is the factory of the two-input operators: arithmetic,
// comparisons and logic.
func newBinary(op ewOp) Factory {
	return func(n *graph.Node, opset int) (Kernel, error) {
		return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
			if len(in) != 2 || in[0] == nil || in[1] == nil || len(out) != 1 {
				return Step{}, fmt.Errorf("%s: want 2 inputs and 1 output", n.Op)
			}
			dt := in[0].DType
			if err := checkDTypes(n.Op, dt, in); err != nil {
				return Step{}, err
			}
			shapes, err := broadcastShape(n, opset, in, out[0])
			if err != nil {
				return Step{}, fmt.Errorf("%s: %w", n.Op, err)
			}
			if out[0].Len() == 0 {
				return emptyStep, nil
			}
			bc := NewBroadcast(out[0].Shape, shapes...)
			b, ok := binaryStep(op, dt, bc)
			if !ok {
				return Step{}, unsupportedDType(n.Op, dt)
			}
			return b.step(), nil
		}), nil
	}
}

// emptyStep is the step of an operator whose output has no elements.
var emptyStep = Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { return nil }}

// binaryStep picks the row function for op over element type dt.
func binaryStep(op ewOp, dt tensor.DType, bc *Broadcast) (ewBinary, bool) {
	switch op {
	case opEq, opLt, opGt, opLe, opGe:
		return compareStep(op, dt, bc)
	case opAnd, opOr, opXor:
		if dt != tensor.Bool {
			return ewBinary{}, false
		}
		return binaryRun(bc, logicRow(op)), true
	}
	switch dt {
	case tensor.Float32:
		return binaryRun(bc, floatRow[float32](op)), true
	case tensor.Float64:
		return binaryRun(bc, floatRow[float64](op)), true
	case tensor.Float16, tensor.BFloat16:
		return halfBinaryRun(bc, dt == tensor.BFloat16, floatRow[float32](op)), true
	case tensor.Int8:
		return binaryRun(bc, intRow[int8](op)), true
	case tensor.Int16:
		return binaryRun(bc, intRow[int16](op)), true
	case tensor.Int32:
		return binaryRun(bc, intRow[int32](op)), true
	case tensor.Int64:
		return binaryRun(bc, intRow[int64](op)), true
	case tensor.Uint8:
		return binaryRun(bc, intRow[uint8](op)), true
	case tensor.Uint16:
		return binaryRun(bc, intRow[uint16](op)), true
	case tensor.Uint32:
		return binaryRun(bc, intRow[uint32](op)), true
	case tensor.Uint64:
		return binaryRun(bc, intRow[uint64](op)), true
	}
	return ewBinary{}, false
}

func floatRow[T ewFloat](op ewOp) ewRow[T, T] {
	switch op {
	case opDiv:
		return divRow[T]
	}
	return numRow[T](op)
}

func intRow[T ewInt](op ewOp) ewRow[T, T] {
	switch op {
	case opDiv:
		return idivRow[T]
	}
	return numRow[T](op)
}

func numRow[T ewNum](op ewOp) ewRow[T, T] {
	switch op {
	case opAdd:
		return addRow[T]
	case opSub:
		return subRow[T]
	case opMul:
		return mulRow[T]
	case opMax:
		return maxRow[T]
	case opMin:
		return minRow[T]
	}
	panic(fmt.Sprintf("kernels: no arithmetic row for op %d", op))
}

func addRow[T ewNum](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] + b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x + b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] + y
		}
	}
}

func subRow[T ewNum](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x - b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] - y
		}
	}
}

func mulRow[T ewNum](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] * b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x * b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] * y
		}
	}
}

func divRow[T ewFloat](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] / b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x / b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] / y
		}
	}
}

// idiv is integer division truncating toward zero, with x/0 = 0 (NumPy's
// result; Go would panic) and MinInt/-1 wrapping to MinInt (Go's rule).
func idiv[T ewInt](x, y T) T {
	if y == 0 {
		return 0
	}
	return x / y
}

func idivRow[T ewInt](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = idiv(a[i], b[i])
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = idiv(x, b[i])
		}
	default:
		y, a := b[0], a[:len(d)]
		if y == 0 {
			clear(d)
			return
		}
		for i := range d {
			d[i] = a[i] / y
		}
	}
}

// maxOf is numpy.maximum: NaN if either operand is NaN.
func maxOf[T ewNum](x, y T) T {
	if x < y || y != y {
		return y
	}
	return x
}

// minOf is numpy.minimum: NaN if either operand is NaN.
func minOf[T ewNum](x, y T) T {
	if x > y || y != y {
		return y
	}
	return x
}

func maxRow[T ewNum](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = maxOf(a[i], b[i])
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = maxOf(x, b[i])
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = maxOf(a[i], y)
		}
	}
}

func minRow[T ewNum](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = minOf(a[i], b[i])
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = minOf(x, b[i])
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = minOf(a[i], y)
		}
	}
}

// newVariadic is the factory of Max and Min: the output is folded input by
// input, the first step reading inputs 0 and 1 and each later one reading
// the output so far and input k (in place: a row reads element i before it
// writes it).
func newVariadic(op ewOp) Factory {
	return func(n *graph.Node, opset int) (Kernel, error) {
		return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
			if len(in) == 0 || len(out) != 1 {
				return Step{}, fmt.Errorf("%s: want at least 1 input and 1 output", n.Op)
			}
			for i, t := range in {
				if t == nil {
					return Step{}, fmt.Errorf("%s: input %d missing", n.Op, i)
				}
			}
			dt := in[0].DType
			if err := checkDTypes(n.Op, dt, in); err != nil {
				return Step{}, err
			}
			if _, err := broadcastShape(n, 7, in, out[0]); err != nil {
				return Step{}, fmt.Errorf("%s: %w", n.Op, err)
			}
			if out[0].Len() == 0 {
				return emptyStep, nil
			}
			if len(in) == 1 {
				return Step{Run: copyRun}, nil
			}
			steps := make([]ewBinary, len(in)-1)
			for k := 1; k < len(in); k++ {
				first := in[0].Shape
				if k > 1 {
					first = out[0].Shape
				}
				b, ok := binaryStep(op, dt, NewBroadcast(out[0].Shape, first, in[k].Shape))
				if !ok {
					return Step{}, unsupportedDType(n.Op, dt)
				}
				steps[k-1] = b
			}
			return foldSteps(steps), nil
		}), nil
	}
}

// foldSteps runs steps[k-1] on (in[0] or, after the first, out[0]; in[k]).
func foldSteps(steps []ewBinary) Step {
	scratch := 0
	for _, s := range steps {
		scratch = max(scratch, s.scratch)
	}
	run := func(in, out []*tensor.Tensor, sc []byte) error {
		steps[0].run(in[0], in[1], out[0], sc)
		for k, s := range steps[1:] {
			s.run(out[0], in[k+2], out[0], sc)
		}
		return nil
	}
	return Step{Scratch: scratch, Run: run}
}

// copyRun copies input 0 to output 0 (same type and size).
func copyRun(in, out []*tensor.Tensor, _ []byte) error {
	if in[0].DType == tensor.String {
		copy(out[0].Strs, in[0].Strs)
		return nil
	}
	copy(out[0].Raw, in[0].Raw)
	return nil
}
