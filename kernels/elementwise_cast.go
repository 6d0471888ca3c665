package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Cast and CastLike convert between every pair of Sextant's element types,
// with NumPy's astype semantics (the ONNX reference): numbers convert as Go
// (and C) conversions do, a float to bool is x != 0 (NaN is true), Float16
// and BFloat16 round to nearest even in one rounding (float64 sources are
// first rounded to float32 by round-to-odd, which makes the second rounding
// exact; Boldo & Melquiond, "When double rounding is odd", 2005). Strings
// are parsed and formatted as NumPy does (elementwise_string.go).
//
// A cast to String is the one elementwise Run that allocates: each output
// element is a new Go string.

func newCast(n *graph.Node, opset int) (Kernel, error) {
	a, ok := n.Attrs["to"]
	if !ok || a.Kind != graph.AttrInt {
		return nil, fmt.Errorf("Cast: missing int attribute \"to\"")
	}
	to := tensor.DType(a.Int)
	if a.Int < 0 || a.Int > 255 || !to.Valid() {
		return nil, fmt.Errorf("Cast: cannot cast to element type %d", a.Int)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		return castPrepare(n.Op, to, in, out)
	}), nil
}

func newCastLike(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if len(in) != 2 || in[1] == nil {
			return Step{}, fmt.Errorf("CastLike: want 2 inputs")
		}
		return castPrepare(n.Op, in[1].DType, in[:1], out)
	}), nil
}

func castPrepare(op string, to tensor.DType, in, out []*tensor.Tensor) (Step, error) {
	if len(in) < 1 || in[0] == nil || len(out) != 1 {
		return Step{}, fmt.Errorf("%s: want an input and 1 output", op)
	}
	if out[0].DType != to {
		return Step{}, fmt.Errorf("%s: output type %v, want %v", op, out[0].DType, to)
	}
	if !out[0].Shape.Equal(in[0].Shape) {
		return Step{}, fmt.Errorf("%s: %w: output shape %v, input %v", op, tensor.ErrShape, out[0].Shape, in[0].Shape)
	}
	from := in[0].DType
	if !from.Valid() || !to.Valid() {
		return Step{}, fmt.Errorf("%s: cannot cast %v to %v", op, from, to)
	}
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		return castTensor(out[0], in[0])
	}}, nil
}

// castTensor converts src into dst, which has the same number of elements.
func castTensor(dst, src *tensor.Tensor) error {
	if src.DType == dst.DType {
		copy(dst.Raw, src.Raw)
		copy(dst.Strs, src.Strs)
		return nil
	}
	if src.DType == tensor.String {
		return parseStrings(dst, src.Strs)
	}
	switch dst.DType {
	case tensor.Float32:
		castInto(tensor.Data[float32](dst), src)
	case tensor.Float64:
		castInto(tensor.Data[float64](dst), src)
	case tensor.Int8:
		castInto(tensor.Data[int8](dst), src)
	case tensor.Int16:
		castInto(tensor.Data[int16](dst), src)
	case tensor.Int32:
		castInto(tensor.Data[int32](dst), src)
	case tensor.Int64:
		castInto(tensor.Data[int64](dst), src)
	case tensor.Uint8:
		castInto(tensor.Data[uint8](dst), src)
	case tensor.Uint16:
		castInto(tensor.Data[uint16](dst), src)
	case tensor.Uint32:
		castInto(tensor.Data[uint32](dst), src)
	case tensor.Uint64:
		castInto(tensor.Data[uint64](dst), src)
	case tensor.Bool:
		castToBool(tensor.Data[bool](dst), src)
	case tensor.Float16, tensor.BFloat16:
		castToHalf(tensor.Data[uint16](dst), src, dst.DType == tensor.BFloat16)
	case tensor.String:
		formatStrings(dst.Strs, src)
	default:
		return unsupportedDType("Cast", dst.DType)
	}
	return nil
}

func convertSlice[D, S ewNum](d []D, s []S) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = D(x)
	}
}

func convertHalf[D ewNum](d []D, s []uint16, bf bool) {
	s = s[:len(d)]
	if bf {
		for i, x := range s {
			d[i] = D(tensor.BFloat16Bits(x).Float32())
		}
		return
	}
	for i, x := range s {
		d[i] = D(tensor.Float16Bits(x).Float32())
	}
}

// castInto converts every element of a numeric or bool tensor src into d.
func castInto[D ewNum](d []D, src *tensor.Tensor) {
	switch src.DType {
	case tensor.Float32:
		convertSlice(d, tensor.Data[float32](src))
	case tensor.Float64:
		convertSlice(d, tensor.Data[float64](src))
	case tensor.Int8:
		convertSlice(d, tensor.Data[int8](src))
	case tensor.Int16:
		convertSlice(d, tensor.Data[int16](src))
	case tensor.Int32:
		convertSlice(d, tensor.Data[int32](src))
	case tensor.Int64:
		convertSlice(d, tensor.Data[int64](src))
	case tensor.Uint8, tensor.Bool:
		convertSlice(d, tensor.Data[uint8](src))
	case tensor.Uint16:
		convertSlice(d, tensor.Data[uint16](src))
	case tensor.Uint32:
		convertSlice(d, tensor.Data[uint32](src))
	case tensor.Uint64:
		convertSlice(d, tensor.Data[uint64](src))
	case tensor.Float16, tensor.BFloat16:
		convertHalf(d, tensor.Data[uint16](src), src.DType == tensor.BFloat16)
	}
}

func nonzero[S ewNum](d []bool, s []S) {
	s = s[:len(d)]
	for i, x := range s {
		d[i] = x != 0
	}
}

// castToBool sets d[i] = src[i] != 0 (NaN is true; Float16 -0 is false).
func castToBool(d []bool, src *tensor.Tensor) {
	switch src.DType {
	case tensor.Float32:
		nonzero(d, tensor.Data[float32](src))
	case tensor.Float64:
		nonzero(d, tensor.Data[float64](src))
	case tensor.Int8:
		nonzero(d, tensor.Data[int8](src))
	case tensor.Int16:
		nonzero(d, tensor.Data[int16](src))
	case tensor.Int32:
		nonzero(d, tensor.Data[int32](src))
	case tensor.Int64:
		nonzero(d, tensor.Data[int64](src))
	case tensor.Uint8, tensor.Bool:
		nonzero(d, tensor.Data[uint8](src))
	case tensor.Uint16:
		nonzero(d, tensor.Data[uint16](src))
	case tensor.Uint32:
		nonzero(d, tensor.Data[uint32](src))
	case tensor.Uint64:
		nonzero(d, tensor.Data[uint64](src))
	case tensor.Float16, tensor.BFloat16:
		s := tensor.Data[uint16](src)[:len(d)]
		for i, x := range s {
			d[i] = x&0x7fff != 0
		}
	}
}

// roundToOddFloat32 rounds x to a float32 whose last significand bit is set
// whenever the rounding was inexact, so that a later rounding to nearest in
// a format of at most 11 significand bits (Float16, BFloat16) is as if done
// directly from x.
func roundToOddFloat32(x float64) float32 {
	f := float32(x)
	if float64(f) == x || math.IsInf(float64(f), 0) || x != x {
		return f
	}
	b := math.Float32bits(f)
	if b&1 == 0 {
		if (float64(f) < x) == (x > 0) {
			b++ // away from zero, toward x
		} else {
			b--
		}
	}
	return math.Float32frombits(b)
}

func halfFrom[S ewNum](d []uint16, s []S, bf bool) {
	s = s[:len(d)]
	if bf {
		for i, x := range s {
			d[i] = uint16(tensor.BFloat16FromFloat32(roundToOddFloat32(float64(x))))
		}
		return
	}
	for i, x := range s {
		d[i] = uint16(tensor.Float16FromFloat32(roundToOddFloat32(float64(x))))
	}
}

// castToHalf rounds src to Float16 (or, with bf, BFloat16) bit patterns.
func castToHalf(d []uint16, src *tensor.Tensor, bf bool) {
	switch src.DType {
	case tensor.Float32:
		narrowHalf(d, tensor.Data[float32](src), bf)
	case tensor.Float64:
		halfFrom(d, tensor.Data[float64](src), bf)
	case tensor.Int8:
		halfFrom(d, tensor.Data[int8](src), bf)
	case tensor.Int16:
		halfFrom(d, tensor.Data[int16](src), bf)
	case tensor.Int32:
		halfFrom(d, tensor.Data[int32](src), bf)
	case tensor.Int64:
		halfFrom(d, tensor.Data[int64](src), bf)
	case tensor.Uint8, tensor.Bool:
		halfFrom(d, tensor.Data[uint8](src), bf)
	case tensor.Uint16:
		halfFrom(d, tensor.Data[uint16](src), bf)
	case tensor.Uint32:
		halfFrom(d, tensor.Data[uint32](src), bf)
	case tensor.Uint64:
		halfFrom(d, tensor.Data[uint64](src), bf)
	case tensor.Float16, tensor.BFloat16:
		// The other half format: widening is exact, so one rounding.
		s := tensor.Data[uint16](src)[:len(d)]
		sbf := src.DType == tensor.BFloat16
		for i, x := range s {
			f := halfToFloat32(x, sbf)
			if bf {
				d[i] = uint16(tensor.BFloat16FromFloat32(f))
			} else {
				d[i] = uint16(tensor.Float16FromFloat32(f))
			}
		}
	}
}
