package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Elementwise operators: arithmetic, comparison, logic, activations, Clip,
// Where, Cast and CastLike. Shapes follow NumPy broadcasting (ONNX
// "multidirectional broadcasting", docs/Broadcasting.md), except that before
// opset 7 the binary operators broadcast B onto A only when their
// "broadcast" attribute is 1, aligning B at attribute "axis" (ONNX
// Add-6/Equal-1 and friends; LegacyBroadcastShape).

func addElementwiseSchemas(add func(*Schema)) {
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		add(&Schema{Op: op, MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferEwBinary(ewNumeric, ewSameDType)})
	}
	add(&Schema{Op: "Pow", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferEwBinary(ewNumeric, ewBaseOut)})
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"} {
		allowed := ewNumeric
		if op == "Equal" {
			allowed = ewNumericOrBool
		}
		add(&Schema{Op: op, MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferEwBinary(allowed, ewBoolOut)})
	}
	for _, op := range []string{"And", "Or", "Xor"} {
		add(&Schema{Op: op, MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferEwBinary(ewBool, ewBoolOut)})
	}
	for _, op := range []string{"Max", "Min"} {
		add(&Schema{Op: op, MinInputs: 1, MaxInputs: -1, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferEwVariadic})
	}
	floatOps := []string{"Sqrt", "Exp", "Log", "Sigmoid", "Tanh", "Erf", "Gelu",
		"LeakyRelu", "HardSigmoid", "HardSwish"}
	for _, op := range floatOps {
		add(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferEwUnary(ewFloat)})
	}
	for _, op := range []string{"Neg", "Abs", "Relu"} {
		add(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferEwUnary(ewNumeric)})
	}
	add(&Schema{Op: "Not", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferEwUnary(ewBool)})
	add(&Schema{Op: "Clip", MinInputs: 1, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferClip})
	add(&Schema{Op: "Where", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferWhere})
	add(&Schema{Op: "Cast", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferCast})
	add(&Schema{Op: "CastLike", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferCastLike})
}

// ewDTypes says which element types an operator accepts.
type ewDTypes func(tensor.DType) bool

func ewNumeric(d tensor.DType) bool       { return d.IsInt() || d.IsFloat() }
func ewNumericOrBool(d tensor.DType) bool { return d == tensor.Bool || ewNumeric(d) }
func ewFloat(d tensor.DType) bool         { return d.IsFloat() }
func ewBool(d tensor.DType) bool          { return d == tensor.Bool }

// ewCheckDType accepts an undefined (not yet inferred) type and any type in ok.
func ewCheckDType(ok ewDTypes, d tensor.DType, what string) error {
	if d == tensor.Undefined || ok(d) {
		return nil
	}
	return fmt.Errorf("%s has unsupported element type %v", what, d)
}

// ewOutRule picks a binary operator's output type from its inputs' types, or
// fails when they are inconsistent.
type ewOutRule func(a, b tensor.DType) (tensor.DType, error)

func ewSameDType(a, b tensor.DType) (tensor.DType, error) {
	switch {
	case a == tensor.Undefined:
		return b, nil
	case b == tensor.Undefined || a == b:
		return a, nil
	}
	return tensor.Undefined, fmt.Errorf("inputs have different element types %v and %v", a, b)
}

func ewBoolOut(a, b tensor.DType) (tensor.DType, error) {
	if _, err := ewSameDType(a, b); err != nil {
		return tensor.Undefined, err
	}
	return tensor.Bool, nil
}

// ewBaseOut is Pow's rule: since opset 12 the exponent may have another
// numeric type, and the result has the base's type.
func ewBaseOut(a, _ tensor.DType) (tensor.DType, error) { return a, nil }

func inferEwBinary(ok ewDTypes, rule ewOutRule) InferFunc {
	return func(n *Node, opset int, in []Operand) ([]Type, error) {
		a, b := in[0].Type, in[1].Type
		if err := ewCheckDType(ok, a.DType, "input A"); err != nil {
			return nil, err
		}
		if err := ewCheckDType(ok, b.DType, "input B"); err != nil {
			return nil, err
		}
		dt, err := rule(a.DType, b.DType)
		if err != nil {
			return nil, err
		}
		out := Type{DType: dt}
		if !a.Known || !b.Known {
			return []Type{out}, nil
		}
		bs, err := LegacyBroadcastDims(n, opset, a.Shape, b.Shape)
		if err != nil {
			return nil, err
		}
		if out.Shape, err = BroadcastDims(a.Shape, bs); err != nil {
			return nil, err
		}
		out.Known = true
		return []Type{out}, nil
	}
}

// LegacyBroadcastDims returns the shape B is broadcast with under the
// pre-opset-7 rules of Add, Sub, Mul, Div, Pow, Equal, Less, Greater, And, Or
// and Xor: with broadcast=1 and an axis, B's dimensions line up with A's from
// that axis, so B gains trailing 1s; without broadcast=1 the shapes must
// match. From opset 7 on (and without those attributes) it returns b as is.
func LegacyBroadcastDims(n *Node, opset int, a, b []Dim) ([]Dim, error) {
	if opset >= 7 || n == nil {
		return b, nil
	}
	if n.Int("broadcast", 0) == 0 {
		if len(a) != len(b) {
			return nil, fmt.Errorf("shapes of rank %d and %d differ and broadcast=0", len(a), len(b))
		}
		return b, nil
	}
	if !n.HasAttr("axis") {
		return b, nil
	}
	axis, err := NormAxis(n.Int("axis", 0), len(a))
	if err != nil {
		return nil, err
	}
	pad := len(a) - axis - len(b)
	if pad < 0 {
		return nil, fmt.Errorf("B of rank %d does not fit A of rank %d at axis %d", len(b), len(a), axis)
	}
	out := append([]Dim(nil), b...)
	for range pad {
		out = append(out, Fixed(1))
	}
	return out, nil
}

func inferEwVariadic(n *Node, opset int, in []Operand) ([]Type, error) {
	out := Type{Known: true}
	var shapes [][]Dim
	for i, op := range in {
		if !op.Present {
			return nil, fmt.Errorf("input %d missing", i)
		}
		if err := ewCheckDType(ewNumeric, op.Type.DType, fmt.Sprintf("input %d", i)); err != nil {
			return nil, err
		}
		dt, err := ewSameDType(out.DType, op.Type.DType)
		if err != nil {
			return nil, err
		}
		out.DType = dt
		out.Known = out.Known && op.Type.Known
		shapes = append(shapes, op.Type.Shape)
	}
	if !out.Known {
		return []Type{{DType: out.DType}}, nil
	}
	s, err := BroadcastDims(shapes...)
	if err != nil {
		return nil, err
	}
	out.Shape = s
	return []Type{out}, nil
}

func inferEwUnary(ok ewDTypes) InferFunc {
	return func(n *Node, opset int, in []Operand) ([]Type, error) {
		if err := ewCheckDType(ok, in[0].Type.DType, "input"); err != nil {
			return nil, err
		}
		return []Type{Same(in[0])}, nil
	}
}

func inferClip(n *Node, opset int, in []Operand) ([]Type, error) {
	x := in[0].Type
	if err := ewCheckDType(ewNumeric, x.DType, "input"); err != nil {
		return nil, err
	}
	for i := 1; i < len(in); i++ {
		if !in[i].Present {
			continue
		}
		b := in[i].Type
		if _, err := ewSameDType(x.DType, b.DType); err != nil {
			return nil, fmt.Errorf("bound %d: %w", i, err)
		}
		if b.Known {
			if s, ok := b.Concrete(); ok && s.NumElements() != 1 {
				return nil, fmt.Errorf("bound %d has shape %v, want a scalar", i, s)
			}
		}
	}
	return []Type{Same(in[0])}, nil
}

func inferWhere(n *Node, opset int, in []Operand) ([]Type, error) {
	c, x, y := in[0].Type, in[1].Type, in[2].Type
	if err := ewCheckDType(ewBool, c.DType, "condition"); err != nil {
		return nil, err
	}
	dt, err := ewSameDType(x.DType, y.DType)
	if err != nil {
		return nil, err
	}
	out := Type{DType: dt}
	if c.Known && x.Known && y.Known {
		if out.Shape, err = BroadcastDims(c.Shape, x.Shape, y.Shape); err != nil {
			return nil, err
		}
		out.Known = true
	}
	return []Type{out}, nil
}

func inferCast(n *Node, opset int, in []Operand) ([]Type, error) {
	a, ok := n.Attrs["to"]
	if !ok || a.Kind != AttrInt {
		return nil, fmt.Errorf("missing int attribute \"to\"")
	}
	to := tensor.DType(a.Int)
	if a.Int < 0 || a.Int > 255 || !to.Valid() {
		return nil, fmt.Errorf("cannot cast to element type %d", a.Int)
	}
	out := Same(in[0])
	out.DType = to
	return []Type{out}, nil
}

func inferCastLike(n *Node, opset int, in []Operand) ([]Type, error) {
	out := Same(in[0])
	out.DType = in[1].Type.DType
	return []Type{out}, nil
}
