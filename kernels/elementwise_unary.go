package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// checkUnary validates a one-input operator's tensors: same dtype in and
// out and the same shape.
func checkUnary(op string, in, out []*tensor.Tensor) error {
	if len(in) < 1 || in[0] == nil || len(out) != 1 {
		return fmt.Errorf("%s: want an input and 1 output", op)
	}
	if out[0].DType != in[0].DType {
		return fmt.Errorf("%s: output type %v, input %v", op, out[0].DType, in[0].DType)
	}
	if !out[0].Shape.Equal(in[0].Shape) {
		return fmt.Errorf("%s: %w: output shape %v, input %v", op, tensor.ErrShape, out[0].Shape, in[0].Shape)
	}
	return nil
}

// unaryStep applies f to the whole input at once.
func unaryStep[T tensor.Elem](f func(d, a []T)) Step {
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		f(tensor.Data[T](out[0]), tensor.Data[T](in[0]))
		return nil
	}}
}

// halfUnaryStep applies a float32 f to Float16/BFloat16 data, ewChunk
// elements at a time, through scratch.
func halfUnaryStep(f func(d, a []float32), bf bool) Step {
	return Step{Scratch: 2 * ewChunk * 4, Run: func(in, out []*tensor.Tensor, scratch []byte) error {
		a, d := tensor.Data[uint16](in[0]), tensor.Data[uint16](out[0])
		s := tensor.Cast[float32](scratch)
		fa, fd := s[:ewChunk], s[ewChunk:2*ewChunk]
		for k := 0; k < len(d); k += ewChunk {
			m := min(ewChunk, len(d)-k)
			widenHalf(fa[:m], a[k:k+m], bf)
			f(fd[:m], fa[:m])
			narrowHalf(d[k:k+m], fd[:m], bf)
		}
		return nil
	}}
}

// Neg, Abs and Relu over every numeric type.
const (
	uNeg = iota
	uAbs
	uRelu
)

func newNeg(n *graph.Node, opset int) (Kernel, error)  { return numUnaryKernel(n.Op, uNeg), nil }
func newAbs(n *graph.Node, opset int) (Kernel, error)  { return numUnaryKernel(n.Op, uAbs), nil }
func newRelu(n *graph.Node, opset int) (Kernel, error) { return numUnaryKernel(n.Op, uRelu), nil }

func numUnaryKernel(op string, code int) Kernel {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if err := checkUnary(op, in, out); err != nil {
			return Step{}, err
		}
		switch dt := in[0].DType; dt {
		case tensor.Float32:
			if code == uRelu {
				return unaryStep(reluRow32), nil
			}
			return unaryStep(numUnaryRow[float32](code)), nil
		case tensor.Float64:
			return unaryStep(numUnaryRow[float64](code)), nil
		case tensor.Float16, tensor.BFloat16:
			return halfUnaryStep(numUnaryRow[float32](code), dt == tensor.BFloat16), nil
		case tensor.Int8:
			return unaryStep(numUnaryRow[int8](code)), nil
		case tensor.Int16:
			return unaryStep(numUnaryRow[int16](code)), nil
		case tensor.Int32:
			return unaryStep(numUnaryRow[int32](code)), nil
		case tensor.Int64:
			return unaryStep(numUnaryRow[int64](code)), nil
		case tensor.Uint8:
			return unaryStep(numUnaryRow[uint8](code)), nil
		case tensor.Uint16:
			return unaryStep(numUnaryRow[uint16](code)), nil
		case tensor.Uint32:
			return unaryStep(numUnaryRow[uint32](code)), nil
		case tensor.Uint64:
			return unaryStep(numUnaryRow[uint64](code)), nil
		default:
			return Step{}, unsupportedDType(op, dt)
		}
	})
}

func numUnaryRow[T ewNum](code int) func(d, a []T) {
	switch code {
	case uNeg:
		return negRow[T]
	case uAbs:
		return absRow[T]
	}
	return reluRow[T]
}

func negRow[T ewNum](d, a []T) {
	a = a[:len(d)]
	for i := range d {
		d[i] = -a[i]
	}
}

// absRow maps -0 to +0 (0 - -0 = +0) and keeps NaN.
func absRow[T ewNum](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		if x <= 0 {
			x = 0 - x
		}
		d[i] = x
	}
}

// reluRow is max(x, 0), keeping NaN (numpy.maximum).
func reluRow[T ewNum](d, a []T) {
	a = a[:len(d)]
	for i, x := range a {
		if x < 0 {
			x = 0
		}
		d[i] = x
	}
}

// reluRow32 is reluRow for float32 without a branch per element (the sign
// of activations is unpredictable): Go's max, eight lanes per iteration,
// which keeps NaN and maps −0 to +0.
func reluRow32(d, a []float32) {
	a = a[:len(d)]
	i := 0
	for ; i+8 <= len(d); i += 8 {
		s, t := (*[8]float32)(a[i:i+8]), (*[8]float32)(d[i:i+8])
		t[0], t[1], t[2], t[3] = max(s[0], 0), max(s[1], 0), max(s[2], 0), max(s[3], 0)
		t[4], t[5], t[6], t[7] = max(s[4], 0), max(s[5], 0), max(s[6], 0), max(s[7], 0)
	}
	for ; i < len(d); i++ {
		d[i] = max(a[i], 0)
	}
}

// newNot is the factory of Not over bools held as bytes 0/1.
func newNot(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if err := checkUnary(n.Op, in, out); err != nil {
			return Step{}, err
		}
		if in[0].DType != tensor.Bool {
			return Step{}, unsupportedDType(n.Op, in[0].DType)
		}
		return unaryStep(func(d, a []uint8) {
			a = a[:len(d)]
			for i := range d {
				d[i] = a[i] ^ 1
			}
		}), nil
	}), nil
}

// newClip is the factory of Clip: y = min(max(x, lo), hi), so lo > hi gives
// hi everywhere (as numpy.clip) and NaN stays NaN. Before opset 11 the
// bounds are float attributes "min" and "max"; from 11 they are optional
// scalar inputs 1 and 2, read in Run because their values do not decide
// shapes. An absent bound is the type's lowest or highest value.
func newClip(n *graph.Node, opset int) (Kernel, error) {
	legacy := opset < 11
	lo := n.Float("min", -math.MaxFloat32)
	hi := n.Float("max", math.MaxFloat32)
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if err := checkUnary(n.Op, in, out); err != nil {
			return Step{}, err
		}
		dt := in[0].DType
		if err := checkDTypes(n.Op, dt, in); err != nil {
			return Step{}, err
		}
		for i := 1; i < len(in); i++ {
			if in[i] != nil && in[i].Len() != 1 {
				return Step{}, fmt.Errorf("%s: bound %d has shape %v, want one element", n.Op, i, in[i].Shape)
			}
		}
		if legacy {
			switch dt {
			case tensor.Float32:
				return unaryStep(func(d, a []float32) { clipRow(d, a, lo, hi) }), nil
			case tensor.Float64:
				return unaryStep(func(d, a []float64) { clipRow(d, a, float64(lo), float64(hi)) }), nil
			case tensor.Float16, tensor.BFloat16:
				return halfUnaryStep(func(d, a []float32) { clipRow(d, a, lo, hi) }, dt == tensor.BFloat16), nil
			}
			return Step{}, unsupportedDType(n.Op, dt)
		}
		switch dt {
		case tensor.Float32:
			return clipStep[float32](-math.MaxFloat32, math.MaxFloat32), nil
		case tensor.Float64:
			return clipStep[float64](-math.MaxFloat64, math.MaxFloat64), nil
		case tensor.Float16, tensor.BFloat16:
			return halfClipStep(dt == tensor.BFloat16), nil
		case tensor.Int8:
			return clipStep[int8](math.MinInt8, math.MaxInt8), nil
		case tensor.Int16:
			return clipStep[int16](math.MinInt16, math.MaxInt16), nil
		case tensor.Int32:
			return clipStep[int32](math.MinInt32, math.MaxInt32), nil
		case tensor.Int64:
			return clipStep[int64](math.MinInt64, math.MaxInt64), nil
		case tensor.Uint8:
			return clipStep[uint8](0, math.MaxUint8), nil
		case tensor.Uint16:
			return clipStep[uint16](0, math.MaxUint16), nil
		case tensor.Uint32:
			return clipStep[uint32](0, math.MaxUint32), nil
		case tensor.Uint64:
			return clipStep[uint64](0, math.MaxUint64), nil
		}
		return Step{}, unsupportedDType(n.Op, dt)
	}), nil
}

// clipBound returns input i's single element, or def when it is absent.
func clipBound[T tensor.Elem](in []*tensor.Tensor, i int, def T) T {
	if i < len(in) && in[i] != nil {
		return tensor.Data[T](in[i])[0]
	}
	return def
}

func clipStep[T ewNum](lowest, highest T) Step {
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		clipRow(tensor.Data[T](out[0]), tensor.Data[T](in[0]), clipBound(in, 1, lowest), clipBound(in, 2, highest))
		return nil
	}}
}

// halfClipStep clips Float16/BFloat16 through float32; the default bounds
// are the format's largest finite magnitudes.
func halfClipStep(bf bool) Step {
	lowest, highest := uint16(0xfbff), uint16(0x7bff) // ±65504
	if bf {
		lowest, highest = 0xff7f, 0x7f7f // ±3.3895e38
	}
	return Step{Scratch: 2 * ewChunk * 4, Run: func(in, out []*tensor.Tensor, scratch []byte) error {
		lo, hi := halfToFloat32(clipBound(in, 1, lowest), bf), halfToFloat32(clipBound(in, 2, highest), bf)
		a, d := tensor.Data[uint16](in[0]), tensor.Data[uint16](out[0])
		s := tensor.Cast[float32](scratch)
		fa, fd := s[:ewChunk], s[ewChunk:2*ewChunk]
		for k := 0; k < len(d); k += ewChunk {
			m := min(ewChunk, len(d)-k)
			widenHalf(fa[:m], a[k:k+m], bf)
			clipRow(fd[:m], fa[:m], lo, hi)
			narrowHalf(d[k:k+m], fd[:m], bf)
		}
		return nil
	}}
}

func clipRow[T ewNum](d, a []T, lo, hi T) {
	a = a[:len(d)]
	for i, x := range a {
		if x < lo {
			x = lo
		}
		if x > hi {
			x = hi
		}
		d[i] = x
	}
}
