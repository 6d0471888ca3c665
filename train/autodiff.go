package train

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// emitter appends nodes to a graph under construction, naming their outputs
// uniquely under a prefix and inferring their types as it goes (so later
// gradient rules can read ranks and dtypes).
type emitter struct {
	g      *graph.Graph
	prefix string
	seq    int
}

// node appends op(ins) with nOut named outputs and returns them.
func (e *emitter) node(op string, attrs map[string]*graph.Attr, ins []*graph.Value, nOut int) ([]*graph.Value, error) {
	e.seq++
	if attrs == nil {
		attrs = map[string]*graph.Attr{}
	}
	n := &graph.Node{Name: fmt.Sprintf("%s%d_%s", e.prefix, e.seq, op), Op: op, Attrs: attrs, Inputs: ins, Outputs: make([]*graph.Value, nOut)}
	if _, ok := graph.Lookup(op); ok && !isONNX(op) {
		n.Domain = graph.SextantDomain
	}
	for i := range n.Outputs {
		n.Outputs[i] = &graph.Value{Name: fmt.Sprintf("%s%d_%s:%d", e.prefix, e.seq, op, i), Producer: n}
	}
	ops := make([]graph.Operand, len(ins))
	for i, v := range ins {
		if v != nil {
			ops[i] = graph.Operand{Present: true, Type: v.Type, Const: graph.ConstValue(v)}
		}
	}
	types, err := graph.InferNode(n, e.g.Opset, ops)
	if err != nil {
		return nil, err
	}
	for i, v := range n.Outputs {
		v.Type = types[i]
	}
	e.g.Nodes = append(e.g.Nodes, n)
	return n.Outputs, nil
}

// one is node for single-output ops.
func (e *emitter) one(op string, attrs map[string]*graph.Attr, ins ...*graph.Value) (*graph.Value, error) {
	out, err := e.node(op, attrs, ins, 1)
	if err != nil {
		return nil, err
	}
	return out[0], nil
}

// constant adds an initializer holding t.
func (e *emitter) constant(t *tensor.Tensor) *graph.Value {
	e.seq++
	v := &graph.Value{Name: fmt.Sprintf("%s%d_const", e.prefix, e.seq), Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
	e.g.Initializers = append(e.g.Initializers, v)
	return v
}

// scalar is a constant scalar of dtype dt (Float32 or Float64).
func (e *emitter) scalar(dt tensor.DType, v float64) *graph.Value {
	if dt == tensor.Float64 {
		return e.constant(tensor.Scalar(v))
	}
	return e.constant(tensor.Scalar(float32(v)))
}

// onnxOps are the default-domain operators gradient rules emit.
var onnxOps = map[string]bool{"MatMul": true, "Gemm": true, "Transpose": true, "Add": true, "Sub": true,
	"Mul": true, "Div": true, "Neg": true, "Reshape": true, "Shape": true, "Concat": true, "Identity": true,
	"Sigmoid": true, "Pow": true, "Cast": true, "Where": true}

func isONNX(op string) bool { return onnxOps[op] }

// gradFunc emits the gradients of node n's inputs given the gradients of its
// outputs (dy[j] nil when output j gets none). need[i] reports whether input
// i needs one; the result has one entry per input, nil where none is made.
type gradFunc func(e *emitter, n *graph.Node, dy []*graph.Value, need []bool) ([]*graph.Value, error)

// UnsupportedGradError reports a node on the path from a parameter to the
// loss whose operator has no gradient rule.
type UnsupportedGradError struct {
	Op, Node string
}

func (e *UnsupportedGradError) Error() string {
	return fmt.Sprintf("train: no gradient for op %s (node %q)", e.Op, e.Node)
}

// Backward appends to g the nodes computing the gradient of the scalar loss
// with respect to each of wrt (values of g: graph inputs standing for
// parameters) and returns those gradients, in wrt's order. g's nodes must be
// in topological order with inferred types. A parameter the loss does not
// depend on is an error.
//
// wrt may also name intermediate values (the trainer passes the outputs of
// the Gather nodes of sparsely updated embeddings): their gradients are
// computed the same way.
func Backward(g *graph.Graph, loss *graph.Value, wrt []*graph.Value) ([]*graph.Value, error) {
	e := &emitter{g: g, prefix: "grad/"}
	fwd := append([]*graph.Node(nil), g.Nodes...)
	requires := requiresGrad(fwd, wrt)
	if !requires[loss] {
		return nil, fmt.Errorf("train: the loss %q does not depend on any trainable parameter", loss.Name)
	}
	grads := map[*graph.Value]*graph.Value{loss: e.scalar(loss.Type.DType, 1)}
	if err := walkBackward(e, fwd, requires, grads, nil); err != nil {
		return nil, err
	}
	return gradsOf(grads, wrt)
}

// requiresGrad marks the values that depend on some of wrt (so their
// gradient is needed), by a forward pass over nodes in topological order.
func requiresGrad(fwd []*graph.Node, wrt []*graph.Value) map[*graph.Value]bool {
	requires := map[*graph.Value]bool{}
	for _, v := range wrt {
		requires[v] = true
	}
	for _, n := range fwd {
		for _, in := range n.Inputs {
			if in != nil && requires[in] {
				for _, o := range n.Outputs {
					if o != nil {
						requires[o] = true
					}
				}
				break
			}
		}
	}
	return requires
}

// gradsOf returns the gradients of wrt from grads, in order.
func gradsOf(grads map[*graph.Value]*graph.Value, wrt []*graph.Value) ([]*graph.Value, error) {
	out := make([]*graph.Value, len(wrt))
	for i, v := range wrt {
		if out[i] = grads[v]; out[i] == nil {
			return nil, fmt.Errorf("train: the loss does not depend on parameter %q", v.Name)
		}
	}
	return out, nil
}

// deferFunc lets a caller of walkBackward take over some inputs of a node:
// it is called for each node with output gradients and the inputs that need
// one, and returns the inputs it will differentiate itself (those are
// dropped from need; nil takes none).
type deferFunc func(n *graph.Node, dy []*graph.Value, need []bool) (taken []bool, err error)

// walkBackward visits fwd in reverse, starting from the gradients already
// in grads, and accumulates into grads the gradient of every value that
// requires one.
func walkBackward(e *emitter, fwd []*graph.Node, requires map[*graph.Value]bool, grads map[*graph.Value]*graph.Value, take deferFunc) error {
	accumulate := func(v, d *graph.Value) error {
		if old, ok := grads[v]; ok {
			sum, err := e.one("Add", nil, old, d)
			if err != nil {
				return err
			}
			d = sum
		}
		grads[v] = d
		return nil
	}
	for i := len(fwd) - 1; i >= 0; i-- {
		n := fwd[i]
		dy := make([]*graph.Value, len(n.Outputs))
		any := false
		for j, o := range n.Outputs {
			if o != nil {
				dy[j] = grads[o]
				any = any || dy[j] != nil
			}
		}
		if !any {
			continue
		}
		need := make([]bool, len(n.Inputs))
		anyNeed := false
		for j, in := range n.Inputs {
			need[j] = in != nil && requires[in]
			anyNeed = anyNeed || need[j]
		}
		if anyNeed && take != nil {
			taken, err := take(n, dy, need)
			if err != nil {
				return err
			}
			anyNeed = false
			for j := range need {
				need[j] = need[j] && (taken == nil || !taken[j])
				anyNeed = anyNeed || need[j]
			}
		}
		if !anyNeed {
			continue
		}
		rule, ok := gradRules[n.Op]
		if !ok {
			return &UnsupportedGradError{Op: n.Op, Node: n.String()}
		}
		dx, err := rule(e, n, dy, need)
		if err != nil {
			return fmt.Errorf("train: gradient of %v: %w", n, err)
		}
		for j, d := range dx {
			if d != nil && j < len(need) && need[j] {
				if err := accumulate(n.Inputs[j], d); err != nil {
					return fmt.Errorf("train: accumulating the gradient of %q: %w", n.Inputs[j].Name, err)
				}
			}
		}
	}
	return nil
}
