package graph

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/tensor"
)

// Operators that make tensors from attributes or scalars: Constant,
// ConstantOfShape and Range (ONNX docs/Operators.md).

func addConstSchemas(add func(*Schema)) {
	add(&Schema{Op: "Constant", MinInputs: 0, MaxInputs: 0, MinOutputs: 1, MaxOutputs: 1, Infer: inferConstant})
	add(&Schema{Op: "ConstantOfShape", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: inferConstantOfShape,
		ValueInputs: shValuesFrom(0, 0)})
	add(&Schema{Op: "Range", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferRange,
		ValueInputs: shValuesFrom(0, 0, 1, 2)})
}

// ConstantTensor returns the value of a Constant node: its value attribute,
// or (from opset 12) one of value_float, value_floats, value_int,
// value_ints, value_string or value_strings as a scalar or vector. The
// tensor is the attribute's own for value; callers must not modify it.
func ConstantTensor(n *Node) (*tensor.Tensor, error) {
	var found []string
	var t *tensor.Tensor
	for name, a := range n.Attrs {
		var v *tensor.Tensor
		switch name {
		case "value":
			if a.Kind != AttrTensor || a.Tensor == nil {
				return nil, fmt.Errorf("attribute value is not a tensor")
			}
			v = a.Tensor
		case "value_float":
			v = tensor.Scalar(a.Float)
		case "value_floats":
			v = tensor.From(append([]float32{}, a.Floats...), len(a.Floats))
		case "value_int":
			v = tensor.Scalar(a.Int)
		case "value_ints":
			v = tensor.From(append([]int64{}, a.Ints...), len(a.Ints))
		case "value_string":
			v = &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{}, Strs: []string{a.String}}
		case "value_strings":
			v = &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{len(a.Strings)}, Strs: append([]string{}, a.Strings...)}
		case "sparse_value":
			return nil, fmt.Errorf("sparse_value is not supported")
		default:
			continue
		}
		found = append(found, name)
		t = v
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("want exactly one value attribute, have %v", found)
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

func inferConstant(n *Node, opset int, in []Operand) ([]Type, error) {
	t, err := ConstantTensor(n)
	if err != nil {
		return nil, err
	}
	return []Type{ShapeOf(t.DType, t.Shape)}, nil
}

// ConstantOfShapeValue returns the one-element value a ConstantOfShape node
// fills its output with: its value attribute, float32 zero by default.
func ConstantOfShapeValue(n *Node) (*tensor.Tensor, error) {
	a, ok := n.Attrs["value"]
	if !ok {
		return tensor.Scalar(float32(0)), nil
	}
	if a.Kind != AttrTensor || a.Tensor == nil {
		return nil, fmt.Errorf("attribute value is not a tensor")
	}
	if err := a.Tensor.Check(); err != nil {
		return nil, err
	}
	if a.Tensor.Len() != 1 || a.Tensor.DType == tensor.String {
		return nil, fmt.Errorf("value must hold one number, got %v", a.Tensor)
	}
	return a.Tensor, nil
}

func inferConstantOfShape(n *Node, opset int, in []Operand) ([]Type, error) {
	v, err := ConstantOfShapeValue(n)
	if err != nil {
		return nil, err
	}
	if in[0].Type.DType != tensor.Undefined && in[0].Type.DType != tensor.Int64 {
		return nil, fmt.Errorf("input must be int64, got %v", in[0].Type.DType)
	}
	if shape, ok := ConstInts(in[0]); ok {
		for _, d := range shape {
			if d < 0 {
				return nil, fmt.Errorf("shape %v has a negative dimension", shape)
			}
		}
		return []Type{shKnown(v.DType, shFixedDims(shape))}, nil
	}
	if k, ok := shVectorLen(in[0]); ok {
		return []Type{shKnown(v.DType, shUnknownDims(k))}, nil
	}
	return []Type{{DType: v.DType}}, nil
}

// RangeLen returns the number of elements Range(start, limit, delta) makes:
// max(ceil((limit-start)/delta), 0). The operands are one-element tensors of
// one numeric type.
func RangeLen(start, limit, delta *tensor.Tensor) (int64, error) {
	for _, t := range []*tensor.Tensor{start, limit, delta} {
		if t.Len() != 1 {
			return 0, fmt.Errorf("range operands must be scalars, got %v", t)
		}
	}
	if start.DType.IsFloat() {
		s, l, d := start.Float64At(0), limit.Float64At(0), delta.Float64At(0)
		if d == 0 || math.IsNaN(s+l+d) || math.IsInf(s+l+d, 0) {
			return 0, fmt.Errorf("range(%v, %v, %v) is not finite", s, l, d)
		}
		n := math.Ceil((l - s) / d)
		if n > 1<<40 {
			return 0, fmt.Errorf("range(%v, %v, %v) is too long", s, l, d)
		}
		return max(int64(n), 0), nil
	}
	sv, err1 := start.Int64s()
	lv, err2 := limit.Int64s()
	dv, err3 := delta.Int64s()
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, fmt.Errorf("range operands must be numeric, got %v", start.DType)
	}
	s, l, d := sv[0], lv[0], dv[0]
	if d == 0 {
		return 0, fmt.Errorf("range delta is 0")
	}
	// Work in float64 for the bound so that extreme values cannot overflow.
	if math.Abs((float64(l)-float64(s))/float64(d)) > 1<<40 {
		return 0, fmt.Errorf("range(%d, %d, %d) is too long", s, l, d)
	}
	diff := l - s
	var n int64
	if d > 0 {
		n = (diff + d - 1) / d
		if diff <= 0 {
			n = 0
		}
	} else {
		n = (-diff + (-d) - 1) / (-d)
		if diff >= 0 {
			n = 0
		}
	}
	return n, nil
}

func inferRange(n *Node, opset int, in []Operand) ([]Type, error) {
	dt := in[0].Type.DType
	for i := 1; i < 3; i++ {
		if d := in[i].Type.DType; d != dt && d != tensor.Undefined && dt != tensor.Undefined {
			return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, d, dt)
		}
	}
	switch dt {
	case tensor.Undefined, tensor.Float32, tensor.Float64, tensor.Int16, tensor.Int32, tensor.Int64:
	default:
		return nil, fmt.Errorf("unsupported element type %v", dt)
	}
	if in[0].Const != nil && in[1].Const != nil && in[2].Const != nil {
		k, err := RangeLen(in[0].Const, in[1].Const, in[2].Const)
		if err != nil {
			return nil, err
		}
		return []Type{shKnown(dt, []Dim{Fixed(k)})}, nil
	}
	return []Type{shKnown(dt, []Dim{Unknown()})}, nil
}
