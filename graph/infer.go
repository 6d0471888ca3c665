package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Infer propagates types through g in node order (Sort first if the graph
// may be out of order), filling every value's Type with InferNode. Constant
// values — initializers, folded values and the outputs of Constant nodes —
// are passed to inference as Operand.Const, so the shapes they decide
// (Reshape's target, ConstantOfShape's extent) come out fixed.
//
// Symbolic dimensions such as "batch" flow through unchanged. bindings, when
// not nil, fixes named dimensions to sizes: the graph inputs' types (and any
// declared types) are rewritten with the bound sizes before inference, so the
// binding is permanent in g.
//
// A value that already has a type (a graph output's declared type, or
// value_info from the file) keeps it as a constraint: the inferred type must
// agree with it where both are fixed, and a dimension inference leaves
// unknown is taken from the declared type. A disagreement is a *NodeError.
func Infer(g *Graph, bindings map[string]int64) error {
	for _, v := range g.Inputs {
		v.Type = bindType(v.Type, bindings)
	}
	for _, v := range g.Initializers {
		if v.Const != nil {
			v.Type = ShapeOf(v.Const.DType, v.Const.Shape)
		}
	}
	for _, n := range g.Nodes {
		ops := operands(n)
		types, err := InferNode(n, g.Opset, ops)
		if err != nil {
			return err
		}
		for j, v := range n.Outputs {
			if v == nil {
				continue
			}
			t, err := mergeType(bindType(v.Type, bindings), types[j])
			if err != nil {
				return &NodeError{Node: n, Err: fmt.Errorf("output %q: %w", v.Name, err)}
			}
			v.Type = t
		}
	}
	return nil
}

// operands describes n's inputs for InferNode.
func operands(n *Node) []Operand {
	ops := make([]Operand, len(n.Inputs))
	for i, v := range n.Inputs {
		if v != nil {
			ops[i] = Operand{Present: true, Type: v.Type, Const: ConstValue(v)}
		}
	}
	return ops
}

// ConstValue returns v's value when it is a constant: an initializer, a
// folded value, or the output of a Constant node. It returns nil otherwise.
func ConstValue(v *Value) *tensor.Tensor {
	if v == nil {
		return nil
	}
	if v.Const != nil {
		return v.Const
	}
	if p := v.Producer; p != nil && p.Op == "Constant" && (p.Domain == "" || p.Domain == "ai.onnx") {
		t, _ := ConstantNodeValue(p)
		return t
	}
	return nil
}

// ConstantNodeValue returns the value a Constant node produces, from
// whichever of its value attributes it carries. ok is false when it has none
// this package can read (sparse_value).
func ConstantNodeValue(n *Node) (t *tensor.Tensor, ok bool) {
	if a, has := n.Attrs["value"]; has && a.Kind == AttrTensor && a.Tensor != nil {
		return a.Tensor, true
	}
	if a, has := n.Attrs["value_float"]; has && a.Kind == AttrFloat {
		return tensor.Scalar(a.Float), true
	}
	if a, has := n.Attrs["value_int"]; has && a.Kind == AttrInt {
		return tensor.Scalar(a.Int), true
	}
	if a, has := n.Attrs["value_floats"]; has && a.Kind == AttrFloats {
		return tensor.From(append([]float32(nil), a.Floats...), len(a.Floats)), true
	}
	if a, has := n.Attrs["value_ints"]; has && a.Kind == AttrInts {
		return tensor.From(append([]int64(nil), a.Ints...), len(a.Ints)), true
	}
	if a, has := n.Attrs["value_string"]; has && a.Kind == AttrString {
		return &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{}, Strs: []string{a.String}}, true
	}
	if a, has := n.Attrs["value_strings"]; has && a.Kind == AttrStrings {
		s := append([]string(nil), a.Strings...)
		return &tensor.Tensor{DType: tensor.String, Shape: tensor.Shape{len(s)}, Strs: s}, true
	}
	return nil, false
}

// bindType replaces the symbolic dimensions of t named in bindings by their
// sizes.
func bindType(t Type, bindings map[string]int64) Type {
	if len(bindings) == 0 || !t.Known {
		return t
	}
	var shape []Dim
	for i, d := range t.Shape {
		size, ok := bindings[d.Sym]
		if d.IsFixed() || d.Sym == "" || !ok {
			continue
		}
		if shape == nil {
			shape = append([]Dim(nil), t.Shape...)
		}
		shape[i] = Fixed(size)
	}
	if shape != nil {
		t.Shape = shape
	}
	return t
}

// mergeType combines a value's declared type with its inferred one: inferred
// information wins, declared information fills the gaps, and fixed sizes or
// element types that disagree are an error.
func mergeType(declared, inferred Type) (Type, error) {
	out := inferred
	switch {
	case declared.DType == 0:
	case inferred.DType == 0:
		out.DType = declared.DType
	case declared.DType != inferred.DType:
		return Type{}, fmt.Errorf("declared element type %v, inferred %v", declared.DType, inferred.DType)
	}
	if !declared.Known {
		return out, nil
	}
	if !inferred.Known {
		out.Shape, out.Known = append([]Dim(nil), declared.Shape...), true
		return out, nil
	}
	if len(declared.Shape) != len(inferred.Shape) {
		return Type{}, fmt.Errorf("declared type %v, inferred %v: ranks differ", declared, inferred)
	}
	out.Shape = append([]Dim(nil), inferred.Shape...)
	for i, d := range declared.Shape {
		o := out.Shape[i]
		switch {
		case o.IsFixed() && d.IsFixed() && o.Size != d.Size:
			return Type{}, fmt.Errorf("declared type %v, inferred %v: dimension %d differs", declared, inferred, i)
		case !o.IsFixed() && o.Sym == "":
			out.Shape[i] = d
		}
	}
	return out, nil
}
