package engine

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels"
	"github.com/sextant-ml/sextant/tensor"
)

// Evaluator computes single nodes with the kernels, on heap tensors. Graph
// passes use it for constant folding.
type Evaluator struct{}

// Eval runs node n on in and returns its outputs (nil for unnamed outputs).
func (Evaluator) Eval(n *graph.Node, opset int, in []*tensor.Tensor) ([]*tensor.Tensor, error) {
	k, err := kernels.New(n, opset)
	if err != nil {
		return nil, err
	}
	out, _, err := evalNode(n, k, opset, in)
	return out, err
}

// evalNode infers n's output shapes for in, allocates the outputs on the heap,
// prepares kernel k and runs it once.
func evalNode(n *graph.Node, k kernels.Kernel, opset int, in []*tensor.Tensor) ([]*tensor.Tensor, kernels.Step, error) {
	ops := make([]graph.Operand, len(in))
	for i, t := range in {
		if t != nil {
			ops[i] = graph.Operand{Present: true, Type: graph.ShapeOf(t.DType, t.Shape), Const: t}
		}
	}
	types, err := graph.InferNode(n, opset, ops)
	if err != nil {
		return nil, kernels.Step{}, err
	}
	out := make([]*tensor.Tensor, len(n.Outputs))
	for j, v := range n.Outputs {
		if v == nil {
			continue
		}
		shape, ok := types[j].Concrete()
		if !ok {
			return nil, kernels.Step{}, &graph.NodeError{Node: n, Err: fmt.Errorf("could not infer the shape of output %q (%v)", v.Name, types[j])}
		}
		if _, err := shape.CheckedNumElements(1 << 40); err != nil {
			return nil, kernels.Step{}, &graph.NodeError{Node: n, Err: err}
		}
		out[j] = tensor.New(types[j].DType, shape...)
	}
	step, err := k.Prepare(in, out)
	if err != nil {
		return nil, kernels.Step{}, &graph.NodeError{Node: n, Err: err}
	}
	if step.Scratch < 0 {
		return nil, kernels.Step{}, &graph.NodeError{Node: n, Err: fmt.Errorf("negative scratch %d", step.Scratch)}
	}
	if err := step.Run(in, out, tensor.AlignedBytes(step.Scratch)); err != nil {
		return nil, kernels.Step{}, &graph.NodeError{Node: n, Err: &dataError{err}}
	}
	return out, step, nil
}

// dataError marks a failure that depends on input values (an index out of
// range), not on shapes: Compile's trial run on zero inputs tolerates it.
type dataError struct{ err error }

func (e *dataError) Error() string { return e.err.Error() }
func (e *dataError) Unwrap() error { return e.err }
