// Package graph is Sextant's model IR: a graph of nodes that apply ONNX
// operators to values, with attributes and constant initializers.
//
// The IR follows ONNX semantics for every supported operator at the opsets
// the ONNX backend test suite uses (7 to 17): a Node's Op is an ONNX op_type
// in the default domain, its attributes keep ONNX names, and its inputs and
// outputs are positional, with nil standing for an omitted optional input.
//
// # Values
//
// A Value is an edge: produced by one node (or a graph input, or a constant
// initializer) and read by any number of nodes. Its Type records the element
// type and a shape whose dimensions may be symbolic (a name such as "batch")
// or unknown; shape inference (Infer) fills them in as far as the graph
// allows.
//
// # Passes
//
// Passes rewrite a graph in place: constant folding, dead-code elimination,
// and fusion of the MatMul/Gemm + Add + activation, LayerNorm and GELU
// patterns PyTorch emits. Validate checks structure and types and names the
// node at fault.
package graph

import (
	"fmt"
	"strings"

	"github.com/sextant-ml/sextant/tensor"
)

// Graph is a model's computation: nodes in topological order, its inputs,
// outputs and constant initializers.
type Graph struct {
	Name string
	// Opset is the version of the default ONNX operator set the nodes use.
	Opset int
	// Nodes are in topological order after Sort (import leaves them so).
	Nodes []*Node
	// Inputs are the values the caller feeds, in order. They exclude
	// initializers.
	Inputs []*Value
	// Outputs are the values the graph returns, in order.
	Outputs []*Value
	// Initializers are the constant values (weights), in file order.
	Initializers []*Value
	// Domains are the non-default operator-set imports (domain → version),
	// kept so an exported model can restate them.
	Domains map[string]int
}

// Value is an edge of the graph.
type Value struct {
	Name string
	Type Type
	// Const holds the value of an initializer or a folded constant.
	Const *tensor.Tensor
	// Layouts holds Const pre-arranged for particular kernels (packed GEMM
	// panels, say), keyed by layout name, as a bundle stores them so that
	// compiling needs no repacking. Kernels that find no layout of theirs
	// repack Const. Passes that replace Const must drop Layouts.
	Layouts map[string]*tensor.Tensor
	// Producer is the node that computes the value, nil for graph inputs and
	// initializers.
	Producer *Node
}

// Type is a value's element type and shape. A nil Shape means the rank is
// unknown.
type Type struct {
	DType tensor.DType
	Shape []Dim
	// Known reports whether Shape is meaningful (rank known).
	Known bool
}

// Dim is one dimension of a shape: a fixed size, a named symbolic size such
// as "batch", or unknown (Size < 0 and Sym empty).
type Dim struct {
	Size int64
	Sym  string
}

// Fixed returns a dimension of known size n.
func Fixed(n int64) Dim { return Dim{Size: n} }

// Symbol returns a named dimension whose size is known only at run time.
func Symbol(name string) Dim { return Dim{Size: -1, Sym: name} }

// Unknown returns a dimension about which nothing is known.
func Unknown() Dim { return Dim{Size: -1} }

// IsFixed reports whether the dimension's size is known.
func (d Dim) IsFixed() bool { return d.Size >= 0 }

func (d Dim) String() string {
	switch {
	case d.Size >= 0:
		return fmt.Sprint(d.Size)
	case d.Sym != "":
		return d.Sym
	}
	return "?"
}

// ShapeOf returns a fully known type for a concrete shape.
func ShapeOf(dt tensor.DType, s tensor.Shape) Type {
	dims := make([]Dim, len(s))
	for i, d := range s {
		dims[i] = Fixed(int64(d))
	}
	return Type{DType: dt, Shape: dims, Known: true}
}

// Concrete returns the shape when every dimension is fixed.
func (t Type) Concrete() (tensor.Shape, bool) {
	if !t.Known {
		return nil, false
	}
	s := make(tensor.Shape, len(t.Shape))
	for i, d := range t.Shape {
		if !d.IsFixed() {
			return nil, false
		}
		s[i] = int(d.Size)
	}
	return s, true
}

func (t Type) String() string {
	if !t.Known {
		return t.DType.String() + "[?]"
	}
	parts := make([]string, len(t.Shape))
	for i, d := range t.Shape {
		parts[i] = d.String()
	}
	return t.DType.String() + "[" + strings.Join(parts, ",") + "]"
}

// Node applies an operator to input values to produce output values.
type Node struct {
	Name   string
	Op     string
	Domain string
	// Inputs are positional; a nil entry is an omitted optional input.
	Inputs []*Value
	// Outputs are positional; a nil entry is an output the model does not use.
	Outputs []*Value
	Attrs   map[string]*Attr
}

// Input returns input i, or nil when it is absent or omitted.
func (n *Node) Input(i int) *Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

// String names the node for error messages: its name if it has one, else its
// op and first output.
func (n *Node) String() string {
	if n.Name != "" {
		return fmt.Sprintf("%s node %q", n.Op, n.Name)
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return fmt.Sprintf("%s node (output %q)", n.Op, n.Outputs[0].Name)
	}
	return n.Op + " node"
}

// AttrKind is the type of an attribute's value; the numbers are ONNX's
// AttributeProto.AttributeType (onnx.proto).
type AttrKind uint8

// Attribute kinds.
const (
	AttrUndefined AttrKind = 0
	AttrFloat     AttrKind = 1
	AttrInt       AttrKind = 2
	AttrString    AttrKind = 3
	AttrTensor    AttrKind = 4
	AttrGraph     AttrKind = 5
	AttrFloats    AttrKind = 6
	AttrInts      AttrKind = 7
	AttrStrings   AttrKind = 8
)

// Attr is a node attribute.
type Attr struct {
	Kind    AttrKind
	Float   float32
	Int     int64
	String  string
	Tensor  *tensor.Tensor
	Floats  []float32
	Ints    []int64
	Strings []string
}

// Int returns the int attribute name, or def when it is absent.
func (n *Node) Int(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInt {
		return a.Int
	}
	return def
}

// Float returns the float attribute name, or def when it is absent.
func (n *Node) Float(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrFloat {
		return a.Float
	}
	return def
}

// Str returns the string attribute name, or def when it is absent.
func (n *Node) Str(name string, def string) string {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrString {
		return a.String
	}
	return def
}

// Ints returns the ints attribute name, or nil when it is absent.
func (n *Node) Ints(name string) ([]int64, bool) {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrInts {
		return a.Ints, true
	}
	return nil, false
}

// Floats returns the floats attribute name, or nil when it is absent.
func (n *Node) Floats(name string) ([]float32, bool) {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrFloats {
		return a.Floats, true
	}
	return nil, false
}

// Strs returns the strings attribute name, or nil when it is absent.
func (n *Node) Strs(name string) ([]string, bool) {
	if a, ok := n.Attrs[name]; ok && a.Kind == AttrStrings {
		return a.Strings, true
	}
	return nil, false
}

// HasAttr reports whether the node carries attribute name.
func (n *Node) HasAttr(name string) bool {
	_, ok := n.Attrs[name]
	return ok
}
