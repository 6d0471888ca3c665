package graph

import (
	"fmt"
	"sort"

	"github.com/sextant-ml/sextant/tensor"
)

// Operand is what shape inference knows about one input of a node: its type
// and, when it is a constant (or, at run time, an actual tensor), its value.
// An omitted optional input is the zero Operand (Present false).
type Operand struct {
	Present bool
	Type    Type
	// Const is the input's value when known. Inference reads it only for
	// inputs whose values decide output shapes (Schema.ValueInputs).
	Const *tensor.Tensor
}

// InferFunc computes the types of a node's outputs. It returns one Type per
// output the node declares (len(n.Outputs)). Where a dimension cannot be
// known it is Unknown; an inconsistency is an error.
type InferFunc func(n *Node, opset int, in []Operand) ([]Type, error)

// Schema describes one operator: its arity, how its output types follow from
// its inputs, and which inputs' values (not just shapes) shape its outputs.
type Schema struct {
	Op                     string
	MinInputs, MaxInputs   int
	MinOutputs, MaxOutputs int
	Infer                  InferFunc
	// ValueInputs lists, for an opset, the input positions whose values
	// decide output shapes (Reshape's shape, Slice's starts, ...). The engine
	// keys its shape-specialized plans on those values.
	ValueInputs func(opset int) []int
}

// schemas is built once from the per-family tables and never modified.
var schemas = buildSchemas()

func buildSchemas() map[string]*Schema {
	m := map[string]*Schema{}
	add := func(s *Schema) {
		if _, dup := m[s.Op]; dup {
			panic("graph: schema registered twice: " + s.Op)
		}
		m[s.Op] = s
	}
	addElementwiseSchemas(add)
	addNNSchemas(add)
	addFusedConvSchemas(add)
	addShapeSchemas(add)
	addGradSchemas(add)
	addGradDPSchemas(add)
	addQuantSchemas(add)
	return m
}

// Lookup returns the schema of op in the default domain (or Sextant's fused
// ops, whose names start with "Fused").
func Lookup(op string) (*Schema, bool) {
	s, ok := schemas[op]
	return s, ok
}

// SupportedOps lists every operator with a schema, sorted.
func SupportedOps() []string {
	ops := make([]string, 0, len(schemas))
	for op := range schemas {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// UnsupportedOpError reports an operator Sextant does not implement.
type UnsupportedOpError struct {
	Op, Domain, Node string
}

func (e *UnsupportedOpError) Error() string {
	op := e.Op
	if e.Domain != "" {
		op = e.Domain + "." + op
	}
	return fmt.Sprintf("unsupported op %s (node %q)", op, e.Node)
}

// NodeError wraps an error with the node it concerns.
type NodeError struct {
	Node *Node
	Err  error
}

func (e *NodeError) Error() string { return fmt.Sprintf("%v: %v", e.Node, e.Err) }
func (e *NodeError) Unwrap() error { return e.Err }

// InferNode checks n's arity against its schema and infers its output types.
func InferNode(n *Node, opset int, in []Operand) ([]Type, error) {
	s, ok := Lookup(n.Op)
	if !ok || (n.Domain != "" && n.Domain != "ai.onnx" && n.Domain != SextantDomain) {
		return nil, &UnsupportedOpError{Op: n.Op, Domain: n.Domain, Node: n.Name}
	}
	if len(in) < s.MinInputs || (s.MaxInputs >= 0 && len(in) > s.MaxInputs) {
		return nil, &NodeError{n, fmt.Errorf("%d inputs, want %d to %d", len(in), s.MinInputs, s.MaxInputs)}
	}
	for i := 0; i < s.MinInputs; i++ {
		if !in[i].Present {
			return nil, &NodeError{n, fmt.Errorf("required input %d missing", i)}
		}
	}
	if len(n.Outputs) < s.MinOutputs || (s.MaxOutputs >= 0 && len(n.Outputs) > s.MaxOutputs) {
		return nil, &NodeError{n, fmt.Errorf("%d outputs, want %d to %d", len(n.Outputs), s.MinOutputs, s.MaxOutputs)}
	}
	out, err := s.Infer(n, opset, in)
	if err != nil {
		return nil, &NodeError{n, err}
	}
	if len(out) != len(n.Outputs) {
		return nil, &NodeError{n, fmt.Errorf("inference gave %d output types for %d outputs", len(out), len(n.Outputs))}
	}
	return out, nil
}

// SextantDomain is the operator domain of Sextant's fused operators.
const SextantDomain = "ai.sextant"
