package graph

import (
	"errors"
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Evaluator computes a node's outputs from constant inputs; the engine
// implements it with its kernels. in[i] is nil for an omitted input. The
// tensors it returns become part of the graph, so they must not be lent
// memory. An evaluator that cannot run an op returns an error wrapping
// *UnsupportedOpError, and Fold leaves that node alone.
type Evaluator interface {
	Eval(n *Node, opset int, in []*tensor.Tensor) ([]*tensor.Tensor, error)
}

// MaxFoldElements caps the size of each output Fold computes: a node whose
// output would be larger (an Expand or ConstantOfShape into a big tensor)
// stays a node, so folding never bloats the bundle.
const MaxFoldElements = 1 << 20

// noFold lists ops Fold never evaluates: random ones, whose outputs must
// differ between runs, and DequantizeLinear, whose folding would turn int8
// weights back into float ones and undo quantization.
var noFold = map[string]bool{
	"RandomNormal": true, "RandomNormalLike": true, "RandomUniform": true,
	"RandomUniformLike": true, "Bernoulli": true, "Multinomial": true,
	"DequantizeLinear": true, "DynamicQuantizeLinear": true,
}

// Fold replaces nodes whose outputs are known before run time by constants,
// and returns how many it replaced. A folded node's outputs become constant
// values (Value.Const set, Producer nil) appended to g.Initializers, and the
// node is removed; later nodes in the same pass see them as constants, so
// chains fold in one pass. Nodes are visited in order: Sort first.
//
// Fold handles, without the evaluator:
//   - Constant nodes;
//   - Shape of a value whose selected dimensions are all fixed, even when its
//     data is not known, and Size of a value whose shape is fully fixed;
//   - Gather and Slice of a Shape output that pick only fixed dimensions, so
//     Shape→Gather(2) folds even while dimension 0 is "batch".
//
// With ev not nil it also evaluates any other node all of whose inputs are
// constant and whose outputs inference (InferNode) finds to have fixed shapes
// of at most MaxFoldElements elements. Together these collapse the
// Shape→Gather→Unsqueeze→Concat→ConstantOfShape chains PyTorch puts in front
// of GRU and LSTM once the batch size is bound (Infer with bindings).
//
// Nodes that produce a graph output are not folded, so graph outputs stay
// computed values.
func Fold(g *Graph, ev Evaluator) (int, error) {
	isOutput := map[*Value]bool{}
	for _, v := range g.Outputs {
		isOutput[v] = true
	}
	kept := g.Nodes[:0]
	folded := 0
	for _, n := range g.Nodes {
		outs, err := foldNode(n, g.Opset, ev, isOutput)
		if err != nil {
			return folded, err
		}
		if outs == nil {
			kept = append(kept, n)
			continue
		}
		for j, v := range n.Outputs {
			if v == nil {
				continue
			}
			v.Const, v.Producer = outs[j], nil
			v.Type = ShapeOf(outs[j].DType, outs[j].Shape)
			g.Initializers = append(g.Initializers, v)
		}
		folded++
	}
	clear(g.Nodes[len(kept):])
	g.Nodes = kept
	return folded, nil
}

// foldNode returns n's outputs when they can be computed now, else nil.
func foldNode(n *Node, opset int, ev Evaluator, isOutput map[*Value]bool) ([]*tensor.Tensor, error) {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil, nil
	}
	for _, v := range n.Outputs {
		if isOutput[v] {
			return nil, nil
		}
	}
	if t := foldShapeOp(n, opset); t != nil {
		return []*tensor.Tensor{t}, nil
	}
	if ev == nil || noFold[n.Op] || len(n.Inputs) == 0 {
		return nil, nil
	}
	in := make([]*tensor.Tensor, len(n.Inputs))
	for i, v := range n.Inputs {
		if v == nil {
			continue
		}
		if in[i] = ConstValue(v); in[i] == nil {
			return nil, nil
		}
	}
	types, err := InferNode(n, opset, operands(n))
	if err != nil {
		var u *UnsupportedOpError
		if errors.As(err, &u) {
			return nil, nil
		}
		return nil, err
	}
	for j, t := range types {
		if n.Outputs[j] == nil {
			continue
		}
		s, ok := t.Concrete()
		if !ok || s.NumElements() > MaxFoldElements {
			return nil, nil
		}
	}
	outs, err := ev.Eval(n, opset, in)
	if err != nil {
		var u *UnsupportedOpError
		if errors.As(err, &u) {
			return nil, nil
		}
		return nil, &NodeError{Node: n, Err: fmt.Errorf("folding: %w", err)}
	}
	if len(outs) != len(n.Outputs) {
		return nil, &NodeError{Node: n, Err: fmt.Errorf("folding: evaluator gave %d outputs for %d", len(outs), len(n.Outputs))}
	}
	for j, v := range n.Outputs {
		if v == nil {
			continue
		}
		want, _ := types[j].Concrete()
		if outs[j] == nil || !outs[j].Shape.Equal(want) || outs[j].DType != types[j].DType {
			return nil, &NodeError{Node: n, Err: fmt.Errorf("folding: evaluator gave %v for output %q, inferred %v", outs[j], v.Name, types[j])}
		}
	}
	return outs, nil
}

// foldShapeOp computes, without an evaluator, the single output of a
// Constant node and of the shape-reading ops whose results depend only on
// fixed dimensions. It returns nil when n is not one of them or its result
// is not yet known.
func foldShapeOp(n *Node, opset int) *tensor.Tensor {
	switch n.Op {
	case "Constant":
		if len(n.Outputs) == 1 {
			t, _ := ConstantNodeValue(n)
			return t
		}
	case "Shape":
		dims, ok := shapeDims(n, opset)
		if ok {
			return fixedDims(dims, nil)
		}
	case "Size":
		if x := n.Input(0); x != nil {
			if s, ok := x.Type.Concrete(); ok {
				return tensor.Scalar(int64(s.NumElements()))
			}
		}
	case "Gather":
		return foldGatherShape(n, opset)
	case "Slice":
		return foldSliceShape(n, opset)
	}
	return nil
}

// shapeDims returns the dimensions a Shape node reports (honouring start and
// end from opset 15), when its input's rank is known.
func shapeDims(n *Node, opset int) ([]Dim, bool) {
	x := n.Input(0)
	if !is(n, "Shape") || x == nil || !x.Type.Known || len(n.Outputs) != 1 {
		return nil, false
	}
	dims := x.Type.Shape
	if c := ConstValue(x); c != nil {
		dims = ShapeOf(c.DType, c.Shape).Shape
	}
	rank := int64(len(dims))
	start, end := int64(0), rank
	if opset >= 15 {
		start, end = n.Int("start", 0), n.Int("end", rank)
	}
	start, end = clampIndex(start, rank), clampIndex(end, rank)
	if end < start {
		end = start
	}
	return dims[start:end], true
}

// clampIndex maps a possibly negative slice bound into [0, n].
func clampIndex(i, n int64) int64 {
	if i < 0 {
		i += n
	}
	return min(max(i, 0), n)
}

// fixedDims returns the sizes dims[idx] (all of dims when idx is nil) as an
// int64 tensor of idxShape (1-D when idx is nil), or nil if one of them is
// not fixed or an index is out of range.
func fixedDims(dims []Dim, idx []int64, idxShape ...int) *tensor.Tensor {
	if idx == nil {
		idx = make([]int64, len(dims))
		for i := range idx {
			idx[i] = int64(i)
		}
		idxShape = []int{len(dims)}
	}
	vals := make([]int64, len(idx))
	for i, k := range idx {
		if k < 0 {
			k += int64(len(dims))
		}
		if k < 0 || k >= int64(len(dims)) || !dims[k].IsFixed() {
			return nil
		}
		vals[i] = dims[k].Size
	}
	return tensor.From(vals, idxShape...)
}

// foldGatherShape folds Gather(Shape(x), indices) when the gathered
// dimensions of x are fixed.
func foldGatherShape(n *Node, opset int) *tensor.Tensor {
	data, idxV := n.Input(0), n.Input(1)
	if data == nil || data.Producer == nil || n.Int("axis", 0) != 0 || len(n.Outputs) != 1 {
		return nil
	}
	dims, ok := shapeDims(data.Producer, opset)
	if !ok {
		return nil
	}
	idxT := ConstValue(idxV)
	if idxT == nil {
		return nil
	}
	idx, err := idxT.Int64s()
	if err != nil {
		return nil
	}
	return fixedDims(dims, idx, idxT.Shape...)
}

// foldSliceShape folds a 1-D Slice of Shape(x) when the sliced dimensions of
// x are fixed.
func foldSliceShape(n *Node, opset int) *tensor.Tensor {
	data := n.Input(0)
	if data == nil || data.Producer == nil || len(n.Outputs) != 1 {
		return nil
	}
	dims, ok := shapeDims(data.Producer, opset)
	if !ok {
		return nil
	}
	var starts, ends, axes, steps []int64
	if opset < 10 {
		starts, _ = n.Ints("starts")
		ends, _ = n.Ints("ends")
		axes, _ = n.Ints("axes")
	} else {
		var okAll bool
		if starts, okAll = constInts(n.Input(1)); !okAll {
			return nil
		}
		if ends, okAll = constInts(n.Input(2)); !okAll {
			return nil
		}
		if v := n.Input(3); v != nil {
			if axes, okAll = constInts(v); !okAll {
				return nil
			}
		}
		if v := n.Input(4); v != nil {
			if steps, okAll = constInts(v); !okAll {
				return nil
			}
		}
	}
	if len(starts) != 1 || len(ends) != 1 || len(axes) > 1 || len(steps) > 1 ||
		(len(axes) == 1 && axes[0] != 0 && axes[0] != -1) {
		return nil
	}
	step := int64(1)
	if len(steps) == 1 {
		step = steps[0]
	}
	idx, ok := sliceIndices(starts[0], ends[0], step, int64(len(dims)))
	if !ok {
		return nil
	}
	return fixedDims(dims, idx, len(idx))
}

// sliceIndices lists the indices ONNX Slice selects along an axis of length
// n (the Slice operator's clamping rules).
func sliceIndices(start, end, step, n int64) ([]int64, bool) {
	if step == 0 {
		return nil, false
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	idx := []int64{}
	if step > 0 {
		start, end = min(max(start, 0), n), min(max(end, 0), n)
		for i := start; i < end; i += step {
			idx = append(idx, i)
		}
	} else {
		start, end = min(max(start, 0), n-1), min(max(end, -1), n-1)
		for i := start; i > end; i += step {
			idx = append(idx, i)
		}
	}
	return idx, true
}

// constInts returns the value of a constant integer input.
func constInts(v *Value) ([]int64, bool) {
	t := ConstValue(v)
	if t == nil {
		return nil, false
	}
	s, err := t.Int64s()
	return s, err == nil
}
