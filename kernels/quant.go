package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Quantized operators
//
// Linear quantization maps a real value r to an 8-bit q with a scale s and a
// zero point z: q = saturate(round(r / s) + z), r ≈ (q − z) · s (ONNX
// Operators.md QuantizeLinear/DequantizeLinear; rounding is half to even).
// Scales and zero points are per tensor (a scalar or one element) or, from
// opset 13, per index of the "axis" attribute (1-D).
//
// The matrix products (quant_matmul.go, quant_fused.go) multiply 8-bit
// operands exactly, accumulating in int32 (quant_gemm.go), and apply zero
// points as row and column sums. Sextant's DynamicQuantMatMul and
// QuantMatMul (graph/schema_quant.go) are what package quant rewrites float
// models into: int8 weights with per-column scales, uint8 or int8
// activations, and the dequantization, bias, activation and (for
// QuantMatMul) requantization fused into the product's epilogue.
func addQuant(add func(string, Factory)) {
	add("QuantizeLinear", newQuantizeLinear)
	add("DequantizeLinear", newDequantizeLinear)
	add("DynamicQuantizeLinear", newDynamicQuantizeLinear)
	add("MatMulInteger", newMatMulInteger)
	add("QLinearMatMul", newQLinearMatMul)
	add("ConvInteger", newConvInteger)
	add("QLinearConv", newQLinearConv)
	add("DynamicQuantMatMul", newQuantMatMul)
	add("QuantMatMul", newQuantMatMul)
	add("Round", newRound)
	add("Reciprocal", newReciprocal)
}

// quantElem is the 8-bit quantized element types.
type quantElem interface{ ~uint8 | ~int8 }

// quantRange returns the smallest and largest value of an 8-bit type.
func quantRange(dt tensor.DType) (lo, hi float32) {
	if dt == tensor.Int8 {
		return math.MinInt8, math.MaxInt8
	}
	return 0, math.MaxUint8
}

// axisLayout splits a shape around a quantization axis: outer blocks of c
// channels of inner elements. Per-tensor parameters have c = 1 (the whole
// tensor is one channel).
type axisLayout struct{ outer, c, inner int }

// quantAxis returns the layout of x for parameters p (scale or zero point)
// of a node whose "axis" attribute is axis.
func quantAxis(op string, x, p *tensor.Tensor, axis int64) (axisLayout, error) {
	if p.Len() == 1 && len(p.Shape) <= 1 {
		return axisLayout{outer: 1, c: 1, inner: x.Len()}, nil
	}
	if len(p.Shape) != 1 {
		return axisLayout{}, fmt.Errorf("%s: %w: parameters %v must be a scalar or 1-D", op, tensor.ErrShape, p.Shape)
	}
	a, err := tensor.NormalizeAxis(int(axis), len(x.Shape))
	if err != nil {
		return axisLayout{}, fmt.Errorf("%s: %w", op, err)
	}
	if x.Shape[a] != p.Shape[0] {
		return axisLayout{}, fmt.Errorf("%s: %w: %d parameters for axis %d of %v", op, tensor.ErrShape, p.Shape[0], a, x.Shape)
	}
	l := axisLayout{outer: x.Shape[:a].NumElements(), c: x.Shape[a], inner: x.Shape[a+1:].NumElements()}
	return l, nil
}

// zeroPointAt returns element i of an optional zero point as float32, or 0.
func zeroPointAt(zp *tensor.Tensor, i int) float32 {
	if zp == nil {
		return 0
	}
	if zp.Len() == 1 {
		i = 0
	}
	switch zp.DType {
	case tensor.Int8:
		return float32(tensor.Data[int8](zp)[i])
	case tensor.Uint8:
		return float32(tensor.Data[uint8](zp)[i])
	case tensor.Int32:
		return float32(tensor.Data[int32](zp)[i])
	}
	return 0
}

// roundEven rounds v half to even.
func roundEven(v float32) float32 { return float32(math.RoundToEven(float64(v))) }

// saturate rounds v half to even and clamps it to [lo, hi].
func saturate(v, lo, hi float32) float32 {
	v = float32(math.RoundToEven(float64(v)))
	return min(max(v, lo), hi)
}

func newQuantizeLinear(n *graph.Node, opset int) (Kernel, error) {
	axis := n.Int("axis", 1)
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, scale, zp := in[0], in[1], inputAt(in, 2)
		if err := checkOut(out, 0, x.Shape); err != nil {
			return Step{}, err
		}
		if scale.DType != tensor.Float32 || (x.DType != tensor.Float32 && x.DType != tensor.Int32) {
			return Step{}, unsupportedDType("QuantizeLinear", x.DType)
		}
		l, err := quantAxis("QuantizeLinear", x, scale, axis)
		if err != nil {
			return Step{}, err
		}
		dt := tensor.Uint8
		if zp != nil {
			if zp.Len() != scale.Len() {
				return Step{}, fmt.Errorf("QuantizeLinear: %w: zero point %v for scale %v", tensor.ErrShape, zp.Shape, scale.Shape)
			}
			dt = zp.DType
		}
		if out[0].DType != dt {
			return Step{}, fmt.Errorf("QuantizeLinear: output type %v, want %v", out[0].DType, dt)
		}
		lo, hi := quantRange(dt)
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			y := out[0].Raw[:out[0].Len()]
			s := tensor.Data[float32](in[1])
			var xf []float32
			var xi []int32
			if in[0].DType == tensor.Float32 {
				xf = tensor.Data[float32](in[0])
			} else {
				xi = tensor.Data[int32](in[0])
			}
			i := 0
			for o := 0; o < l.outer; o++ {
				for c := 0; c < l.c; c++ {
					sc, z := s[c], zeroPointAt(inputAt(in, 2), c)
					for j := 0; j < l.inner; j++ {
						var v float32
						if xf != nil {
							v = xf[i]
						} else {
							v = float32(xi[i])
						}
						y[i] = byte(int32(saturate(roundEven(v/sc)+z, lo, hi)))
						i++
					}
				}
			}
			return nil
		}}, nil
	}), nil
}

func newDequantizeLinear(n *graph.Node, opset int) (Kernel, error) {
	axis := n.Int("axis", 1)
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, scale, zp := in[0], in[1], inputAt(in, 2)
		if err := checkOut(out, 0, x.Shape); err != nil {
			return Step{}, err
		}
		if scale.DType != tensor.Float32 || out[0].DType != tensor.Float32 {
			return Step{}, unsupportedDType("DequantizeLinear", scale.DType)
		}
		l, err := quantAxis("DequantizeLinear", x, scale, axis)
		if err != nil {
			return Step{}, err
		}
		if zp != nil && (zp.Len() != scale.Len() || zp.DType != x.DType) {
			return Step{}, fmt.Errorf("DequantizeLinear: %w: zero point %v for x %v and scale %v", tensor.ErrShape, zp, x, scale.Shape)
		}
		var at func(x *tensor.Tensor, i int) float32
		switch x.DType {
		case tensor.Uint8:
			at = func(x *tensor.Tensor, i int) float32 { return float32(x.Raw[i]) }
		case tensor.Int8:
			at = func(x *tensor.Tensor, i int) float32 { return float32(int8(x.Raw[i])) }
		case tensor.Int32:
			at = func(x *tensor.Tensor, i int) float32 { return float32(tensor.Data[int32](x)[i]) }
		default:
			return Step{}, unsupportedDType("DequantizeLinear", x.DType)
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			y := tensor.Data[float32](out[0])
			s := tensor.Data[float32](in[1])
			i := 0
			for o := 0; o < l.outer; o++ {
				for c := 0; c < l.c; c++ {
					sc, z := s[c], zeroPointAt(inputAt(in, 2), c)
					for j := 0; j < l.inner; j++ {
						y[i] = (at(in[0], i) - z) * sc
						i++
					}
				}
			}
			return nil
		}}, nil
	}), nil
}

// dynamicQuantParams returns DynamicQuantizeLinear's uint8 scale and zero
// point for data whose extremes are lo and hi: the range is widened to
// include 0, scale = range / 255 and the zero point is round(−lo / scale)
// saturated to [0, 255] (ONNX Operators.md DynamicQuantizeLinear). An
// all-zero range gives scale 0 and zero point 0.
func dynamicQuantParams(lo, hi float32) (scale float32, zp uint8) {
	lo, hi = min(lo, 0), max(hi, 0)
	scale = (hi - lo) / 255
	if scale == 0 || math.IsNaN(float64(scale)) {
		return 0, 0
	}
	return scale, uint8(saturate(0-lo/scale, 0, 255))
}

// minMax returns the smallest and largest element of x (0, 0 when empty).
func minMax(x []float32) (lo, hi float32) {
	if len(x) == 0 {
		return 0, 0
	}
	lo, hi = x[0], x[0]
	for _, v := range x {
		lo = min(lo, v)
		hi = max(hi, v)
	}
	return lo, hi
}

func newDynamicQuantizeLinear(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if in[0].DType != tensor.Float32 {
			return Step{}, unsupportedDType("DynamicQuantizeLinear", in[0].DType)
		}
		if err := checkOut(out, 0, in[0].Shape); err != nil {
			return Step{}, err
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			x := tensor.Data[float32](in[0])
			scale, zp := dynamicQuantParams(minMax(x))
			if out[0] != nil {
				y := out[0].Raw[:len(x)]
				z := float32(zp)
				for i, v := range x {
					q := z
					if scale != 0 {
						q = saturate(roundEven(v/scale)+z, 0, 255)
					}
					y[i] = uint8(q)
				}
			}
			if out[1] != nil {
				tensor.Data[float32](out[1])[0] = scale
			}
			if out[2] != nil {
				out[2].Raw[0] = zp
			}
			return nil
		}}, nil
	}), nil
}

// newRound is Round-11: half to even, as numpy.round.
func newRound(n *graph.Node, opset int) (Kernel, error) {
	return floatUnaryKernel(n.Op, func(x float64) float64 { return math.RoundToEven(x) }), nil
}

// newReciprocal is Reciprocal-6: 1/x.
func newReciprocal(n *graph.Node, opset int) (Kernel, error) {
	return floatUnaryKernel(n.Op, func(x float64) float64 { return 1 / x }), nil
}

// floatUnaryKernel applies f to every element of a float32 or float64
// tensor, and to float16/bfloat16 through float32.
func floatUnaryKernel(op string, f func(float64) float64) Kernel {
	f32 := func(d, a []float32) {
		a = a[:len(d)]
		for i, v := range a {
			d[i] = float32(f(float64(v)))
		}
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if err := checkUnary(op, in, out); err != nil {
			return Step{}, err
		}
		switch dt := in[0].DType; dt {
		case tensor.Float32:
			return unaryStep(f32), nil
		case tensor.Float64:
			return unaryStep(func(d, a []float64) {
				a = a[:len(d)]
				for i, v := range a {
					d[i] = f(v)
				}
			}), nil
		case tensor.Float16, tensor.BFloat16:
			return halfUnaryStep(f32, dt == tensor.BFloat16), nil
		default:
			return Step{}, unsupportedDType(op, dt)
		}
	})
}
