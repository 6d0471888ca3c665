// Package kernels holds the operator implementations the engine runs.
//
// # Contract
//
// A Factory builds a Kernel for one graph node, once, when a model is
// compiled: it parses the node's attributes and may repack constant weights.
// A Kernel is immutable and shared by every session of the model.
//
// Prepare specializes a kernel to concrete input and output shapes (the
// engine has already inferred the outputs' types with graph.InferNode) and
// returns a Step. Prepare may allocate; it runs once per shape signature.
// Inputs whose values decide shapes (graph.Schema.ValueInputs) hold their real
// values during Prepare; other inputs' contents are undefined.
//
// Step.Run computes the outputs from the inputs. It must not allocate on the
// heap, must not keep references to its arguments, and must write every
// element of every output (output buffers are reused arena memory, not
// zeroed). Scratch is Step.Scratch bytes of 64-byte-aligned arena memory,
// private to this call. Run returns an error only for data-dependent failures
// (an index out of range); shape errors belong in Prepare.
//
// in[i] is nil when the node omits optional input i; out[i] is nil when the
// node leaves optional output i unnamed (a nil graph.Value): kernels skip nil
// outputs. len(in) and len(out) equal len(n.Inputs) and len(n.Outputs).
//
// The pure-Go kernels here are the reference and the fallback; faster paths
// for particular shapes and instruction sets sit behind the same contract.
package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Factory builds the kernel for node n of a graph at the given opset.
type Factory func(n *graph.Node, opset int) (Kernel, error)

// Kernel is an operator bound to one node's attributes.
type Kernel interface {
	Prepare(in, out []*tensor.Tensor) (Step, error)
}

// Step is a kernel specialized to concrete shapes.
type Step struct {
	// Scratch is the number of bytes of temporary memory Run needs.
	Scratch int
	Run     func(in, out []*tensor.Tensor, scratch []byte) error
}

// KernelFunc adapts a function to the Kernel interface.
type KernelFunc func(in, out []*tensor.Tensor) (Step, error)

// Prepare calls f.
func (f KernelFunc) Prepare(in, out []*tensor.Tensor) (Step, error) { return f(in, out) }

// registry is built once from the per-family tables and never modified.
var registry = buildRegistry()

func buildRegistry() map[string]Factory {
	m := map[string]Factory{}
	add := func(op string, f Factory) {
		if _, dup := m[op]; dup {
			panic("kernels: op registered twice: " + op)
		}
		m[op] = f
	}
	addElementwise(add)
	addNN(add)
	addShape(add)
	addGrad(add)
	addGradDP(add)
	addQuant(add)
	return m
}

// New builds the kernel for node n.
func New(n *graph.Node, opset int) (Kernel, error) {
	f, ok := registry[n.Op]
	if !ok {
		return nil, &graph.UnsupportedOpError{Op: n.Op, Domain: n.Domain, Node: n.Name}
	}
	k, err := f(n, opset)
	if err != nil {
		return nil, &graph.NodeError{Node: n, Err: err}
	}
	return k, nil
}

// Has reports whether a kernel exists for op.
func Has(op string) bool {
	_, ok := registry[op]
	return ok
}

// unsupportedDType is the error for a dtype a kernel does not handle.
func unsupportedDType(op string, dt tensor.DType) error {
	return fmt.Errorf("%s: unsupported dtype %v", op, dt)
}
