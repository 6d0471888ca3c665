package graph

import (
	"testing"

	"github.com/sextant-ml/sextant/tensor"
)

// Test helpers for the external test package (graph_test), which can import
// packages that import graph, such as onnx.

// RefEval is the reference evaluator the pass tests use.
var RefEval Evaluator = refEval{}

// Run executes g with the reference evaluator.
func Run(t *testing.T, g *Graph, inputs map[string]*tensor.Tensor) []*tensor.Tensor {
	return run(t, g, inputs)
}

// AssertClose compares tensors elementwise within tol.
func AssertClose(t *testing.T, got, want *tensor.Tensor, tol float64) {
	t.Helper()
	assertClose(t, got, want, tol)
}

// OpList returns the ops of g's nodes, in order.
func OpList(g *Graph) []string { return opList(g) }
