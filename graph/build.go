package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Builder assembles a Graph by value name, for tests and tools that build
// fixed graphs in code. Values are created by Input, Initializer and node
// outputs and referred to by name afterwards; the empty name stands for an
// omitted optional input or an unused output.
//
// Builder panics on misuse (a name defined twice or used before it is
// defined): the graphs it builds are written by hand, so a mistake is a bug
// in the caller, not bad input.
type Builder struct {
	g      *Graph
	values map[string]*Value
	seq    int
}

// NewBuilder starts an empty graph at the given default-domain opset.
func NewBuilder(name string, opset int) *Builder {
	return &Builder{g: &Graph{Name: name, Opset: opset}, values: map[string]*Value{}}
}

// Graph returns the graph built so far (not a copy).
func (b *Builder) Graph() *Graph { return b.g }

// Value returns the value called name; it panics if there is none.
func (b *Builder) Value(name string) *Value {
	v, ok := b.values[name]
	if !ok {
		panic(fmt.Sprintf("graph.Builder: value %q is not defined", name))
	}
	return v
}

func (b *Builder) define(v *Value) *Value {
	if _, dup := b.values[v.Name]; dup || v.Name == "" {
		panic(fmt.Sprintf("graph.Builder: value name %q is empty or defined twice", v.Name))
	}
	b.values[v.Name] = v
	return v
}

// Dims makes a shape from Go values: an int or int64 is a fixed size, a
// string a symbolic one, and nil an unknown one.
func Dims(ds ...any) []Dim {
	out := make([]Dim, len(ds))
	for i, d := range ds {
		switch d := d.(type) {
		case int:
			out[i] = Fixed(int64(d))
		case int64:
			out[i] = Fixed(d)
		case string:
			out[i] = Symbol(d)
		case nil:
			out[i] = Unknown()
		default:
			panic(fmt.Sprintf("graph.Dims: dimension %d has type %T", i, d))
		}
	}
	return out
}

// Input adds a graph input of the given element type and shape (see Dims).
func (b *Builder) Input(name string, dt tensor.DType, dims ...any) *Value {
	v := b.define(&Value{Name: name, Type: Type{DType: dt, Shape: Dims(dims...), Known: true}})
	b.g.Inputs = append(b.g.Inputs, v)
	return v
}

// Initializer adds a constant initializer holding t.
func (b *Builder) Initializer(name string, t *tensor.Tensor) *Value {
	v := b.define(&Value{Name: name, Type: ShapeOf(t.DType, t.Shape), Const: t})
	b.g.Initializers = append(b.g.Initializers, v)
	return v
}

// Node appends a node applying op to the named inputs and defining the named
// outputs ("" for an omitted input or unused output). attrs may be nil.
func (b *Builder) Node(op string, ins, outs []string, attrs map[string]*Attr) *Node {
	n := &Node{Op: op, Attrs: attrs, Inputs: make([]*Value, len(ins)), Outputs: make([]*Value, len(outs))}
	if n.Attrs == nil {
		n.Attrs = map[string]*Attr{}
	}
	for i, name := range ins {
		if name != "" {
			n.Inputs[i] = b.Value(name)
		}
	}
	for i, name := range outs {
		if name != "" {
			n.Outputs[i] = b.define(&Value{Name: name, Producer: n})
		}
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return n
}

// Op appends a single-output node with a generated output name and returns
// that name, so expressions nest: b.Op("Relu", nil, b.Op("MatMul", nil, "x", "w")).
func (b *Builder) Op(op string, attrs map[string]*Attr, ins ...string) string {
	b.seq++
	out := fmt.Sprintf("%s_%d", op, b.seq)
	b.Node(op, ins, []string{out}, attrs)
	return out
}

// Constant appends a Constant node whose value is t, as exporters write
// scalars, and returns its output's name.
func (b *Builder) Constant(t *tensor.Tensor) string {
	return b.Op("Constant", map[string]*Attr{"value": TensorAttr(t)})
}

// Output marks the named values as graph outputs, in order.
func (b *Builder) Output(names ...string) {
	for _, name := range names {
		b.g.Outputs = append(b.g.Outputs, b.Value(name))
	}
}

// IntAttr is an int attribute.
func IntAttr(v int64) *Attr { return &Attr{Kind: AttrInt, Int: v} }

// FloatAttr is a float attribute.
func FloatAttr(v float32) *Attr { return &Attr{Kind: AttrFloat, Float: v} }

// StringAttr is a string attribute.
func StringAttr(v string) *Attr { return &Attr{Kind: AttrString, String: v} }

// IntsAttr is an ints attribute.
func IntsAttr(v ...int64) *Attr { return &Attr{Kind: AttrInts, Ints: v} }

// FloatsAttr is a floats attribute.
func FloatsAttr(v ...float32) *Attr { return &Attr{Kind: AttrFloats, Floats: v} }

// TensorAttr is a tensor attribute.
func TensorAttr(t *tensor.Tensor) *Attr { return &Attr{Kind: AttrTensor, Tensor: t} }
