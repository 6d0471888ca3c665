package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Schemas of the quantized operators (ONNX Operators.md QuantizeLinear-10/13,
// DequantizeLinear-10/13, DynamicQuantizeLinear-11, MatMulInteger-10,
// QLinearMatMul-10, ConvInteger-10, QLinearConv-10), of Round-11 and
// Reciprocal-6 (which the expanded DynamicQuantizeLinear needs), and of
// Sextant's quantized matrix products:
//
//   - DynamicQuantMatMul(A f32, B int8 [K,N], BScale f32 [N], Bias f32 [N]?):
//     A is quantized per tensor to uint8 at run time, the product is
//     accumulated in int32 and dequantized with A's scale times B's
//     per-column scale, then Bias and the "activation" attribute (as
//     FusedMatMul's) apply. Output f32.
//   - QuantMatMul(A, B int8 [K,N], BScale f32 [N], Bias f32 [N]?): the static
//     form. A is float32 (quantized on entry with the attributes a_scale,
//     a_zero_point and a_type, uint8 or int8) or already uint8/int8 with those
//     parameters. The int32 accumulator is dequantized, Bias and activation
//     applied, and the result written as float32 (y_type 1, the default) or
//     requantized to y_type uint8/int8 with y_scale and y_zero_point.
func addQuantSchemas(add func(*Schema)) {
	add(&Schema{Op: "QuantizeLinear", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferQuantizeLinear})
	add(&Schema{Op: "DequantizeLinear", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferDequantizeLinear})
	add(&Schema{Op: "DynamicQuantizeLinear", MinInputs: 1, MaxInputs: 1, MinOutputs: 3, MaxOutputs: 3, Infer: inferDynamicQuantizeLinear})
	add(&Schema{Op: "MatMulInteger", MinInputs: 2, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1, Infer: inferMatMulInteger})
	add(&Schema{Op: "QLinearMatMul", MinInputs: 8, MaxInputs: 8, MinOutputs: 1, MaxOutputs: 1, Infer: inferQLinearMatMul})
	add(&Schema{Op: "ConvInteger", MinInputs: 2, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1, Infer: inferConvInteger})
	add(&Schema{Op: "QLinearConv", MinInputs: 8, MaxInputs: 9, MinOutputs: 1, MaxOutputs: 1, Infer: inferQLinearConv})
	for _, op := range []string{"Round", "Reciprocal"} {
		add(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: inferEwUnary(ewFloat)})
	}
	add(&Schema{Op: "DynamicQuantMatMul", MinInputs: 3, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1, Infer: inferQuantMatMul})
	add(&Schema{Op: "QuantMatMul", MinInputs: 3, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1, Infer: inferQuantMatMul})
}

// quantByte reports whether d is an 8-bit quantized type.
func quantByte(d tensor.DType) bool { return d == tensor.Uint8 || d == tensor.Int8 }

// quantCheck checks that input i, when its type is known, is one of ok.
func quantCheck(in []Operand, i int, what string, ok ...tensor.DType) error {
	if i >= len(in) || !in[i].Present || in[i].Type.DType == tensor.Undefined {
		return nil
	}
	for _, d := range ok {
		if in[i].Type.DType == d {
			return nil
		}
	}
	return fmt.Errorf("%s has type %v, want one of %v", what, in[i].Type.DType, ok)
}

// quantParamsShape checks a scale or zero point: a scalar (or one element)
// for per-tensor quantization, or 1-D along the node's axis.
func quantParamsShape(n *Node, opset int, x, p Operand, what string) error {
	if !p.Present || !p.Type.Known {
		return nil
	}
	switch len(p.Type.Shape) {
	case 0:
		return nil
	case 1:
		if opset < 13 && p.Type.Shape[0].IsFixed() && p.Type.Shape[0].Size != 1 {
			return fmt.Errorf("%s must be a scalar before opset 13, got %v", what, p.Type)
		}
		if !x.Type.Known || (p.Type.Shape[0].IsFixed() && p.Type.Shape[0].Size == 1) {
			return nil
		}
		axis, err := NormAxis(n.Int("axis", 1), len(x.Type.Shape))
		if err != nil {
			return err
		}
		return nnSameDim(what+" length vs axis", p.Type.Shape[0], x.Type.Shape[axis])
	}
	return fmt.Errorf("%s must be a scalar or 1-D, got %v", what, p.Type)
}

func inferQuantizeLinear(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := quantCheck(in, 0, "x", tensor.Float32, tensor.Int32, tensor.Float16, tensor.BFloat16); err != nil {
		return nil, err
	}
	for i, what := range []string{"", "y_scale", "y_zero_point"} {
		if i > 0 && i < len(in) {
			if err := quantParamsShape(n, opset, in[0], in[i], what); err != nil {
				return nil, err
			}
		}
	}
	out := Same(in[0])
	out.DType = tensor.Uint8
	if len(in) > 2 && in[2].Present {
		if err := quantCheck(in, 2, "y_zero_point", tensor.Uint8, tensor.Int8); err != nil {
			return nil, err
		}
		out.DType = in[2].Type.DType
	}
	return []Type{out}, nil
}

func inferDequantizeLinear(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := quantCheck(in, 0, "x", tensor.Uint8, tensor.Int8, tensor.Int32); err != nil {
		return nil, err
	}
	if err := quantCheck(in, 2, "x_zero_point", in[0].Type.DType); err != nil {
		return nil, err
	}
	for i, what := range []string{"", "x_scale", "x_zero_point"} {
		if i > 0 && i < len(in) {
			if err := quantParamsShape(n, opset, in[0], in[i], what); err != nil {
				return nil, err
			}
		}
	}
	out := Same(in[0])
	out.DType = in[1].Type.DType
	if out.DType == tensor.Undefined {
		out.DType = tensor.Float32
	}
	return []Type{out}, nil
}

func inferDynamicQuantizeLinear(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := quantCheck(in, 0, "x", tensor.Float32); err != nil {
		return nil, err
	}
	y := Same(in[0])
	y.DType = tensor.Uint8
	return []Type{y,
		{DType: tensor.Float32, Shape: []Dim{}, Known: true},
		{DType: tensor.Uint8, Shape: []Dim{}, Known: true}}, nil
}

// inferIntMatMul types a matrix product of a and b (numpy.matmul shapes)
// whose output has type dt.
func inferIntMatMul(n *Node, opset int, a, b Operand, dt tensor.DType) ([]Type, error) {
	a.Type.DType, b.Type.DType = dt, dt
	out, err := inferMatMul(n, opset, []Operand{a, b})
	if err != nil {
		return nil, err
	}
	out[0].DType = dt
	return out, nil
}

func inferMatMulInteger(n *Node, opset int, in []Operand) ([]Type, error) {
	for i, what := range []string{"A", "B", "a_zero_point", "b_zero_point"} {
		if err := quantCheck(in, i, what, tensor.Uint8, tensor.Int8); err != nil {
			return nil, err
		}
	}
	return inferIntMatMul(n, opset, in[0], in[1], tensor.Int32)
}

func inferQLinearMatMul(n *Node, opset int, in []Operand) ([]Type, error) {
	for _, i := range []int{0, 2, 3, 5, 7} {
		if err := quantCheck(in, i, fmt.Sprintf("input %d", i), tensor.Uint8, tensor.Int8); err != nil {
			return nil, err
		}
	}
	dt := in[7].Type.DType
	if dt == tensor.Undefined {
		dt = tensor.Uint8
	}
	return inferIntMatMul(n, opset, in[0], in[3], dt)
}

// inferIntConv types a convolution of x by w whose output has type dt.
func inferIntConv(n *Node, opset int, x, w Operand, dt tensor.DType) ([]Type, error) {
	x.Type.DType, w.Type.DType = tensor.Float32, tensor.Float32
	out, err := inferConv(n, opset, []Operand{x, w})
	if err != nil {
		return nil, err
	}
	out[0].DType = dt
	return out, nil
}

func inferConvInteger(n *Node, opset int, in []Operand) ([]Type, error) {
	for i, what := range []string{"x", "w", "x_zero_point", "w_zero_point"} {
		if err := quantCheck(in, i, what, tensor.Uint8, tensor.Int8); err != nil {
			return nil, err
		}
	}
	return inferIntConv(n, opset, in[0], in[1], tensor.Int32)
}

func inferQLinearConv(n *Node, opset int, in []Operand) ([]Type, error) {
	for _, i := range []int{0, 2, 3, 5, 7} {
		if err := quantCheck(in, i, fmt.Sprintf("input %d", i), tensor.Uint8, tensor.Int8); err != nil {
			return nil, err
		}
	}
	if err := quantCheck(in, 8, "B", tensor.Int32); err != nil {
		return nil, err
	}
	dt := in[7].Type.DType
	if dt == tensor.Undefined {
		dt = tensor.Uint8
	}
	return inferIntConv(n, opset, in[0], in[3], dt)
}

// inferQuantMatMul types DynamicQuantMatMul and QuantMatMul: B is a 2-D
// int8 [K, N] matrix, BScale and Bias are [N].
func inferQuantMatMul(n *Node, opset int, in []Operand) ([]Type, error) {
	if err := quantCheck(in, 1, "B", tensor.Int8); err != nil {
		return nil, err
	}
	if n.Op == "DynamicQuantMatMul" {
		if err := quantCheck(in, 0, "A", tensor.Float32); err != nil {
			return nil, err
		}
	} else if err := quantCheck(in, 0, "A", tensor.Float32, tensor.Uint8, tensor.Int8); err != nil {
		return nil, err
	}
	if err := quantCheck(in, 2, "BScale", tensor.Float32); err != nil {
		return nil, err
	}
	if err := quantCheck(in, 3, "Bias", tensor.Float32); err != nil {
		return nil, err
	}
	b := in[1].Type
	if b.Known && len(b.Shape) != 2 {
		return nil, fmt.Errorf("B must be 2-D [K, N], got %v", b)
	}
	dt := tensor.Float32
	if n.Op == "QuantMatMul" {
		switch yt := tensor.DType(n.Int("y_type", int64(tensor.Float32))); yt {
		case tensor.Float32, tensor.Uint8, tensor.Int8:
			dt = yt
		default:
			return nil, fmt.Errorf("y_type %v: want float32, uint8 or int8", yt)
		}
	}
	for i := 2; i < len(in); i++ {
		t := in[i].Type
		if !in[i].Present || !t.Known || !b.Known {
			continue
		}
		if len(t.Shape) != 1 {
			return nil, fmt.Errorf("input %d must be 1-D [N], got %v", i, t)
		}
		if err := nnSameDim(fmt.Sprintf("input %d length", i), t.Shape[0], b.Shape[1]); err != nil {
			return nil, err
		}
	}
	return inferIntMatMul(n, opset, in[0], in[1], dt)
}
