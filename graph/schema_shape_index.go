package graph

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/tensor"
)

// Indexing data-movement operators: Gather, GatherElements, GatherND,
// Concat, Split and Slice (ONNX docs/Operators.md).

func addIndexSchemas(add func(*Schema)) {
	add(&Schema{Op: "Gather", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferGather})
	add(&Schema{Op: "GatherElements", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferGatherElements})
	add(&Schema{Op: "GatherND", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferGatherND})
	add(&Schema{Op: "Concat", MinInputs: 1, MaxInputs: -1, MinOutputs: 1, MaxOutputs: 1, Infer: inferConcat})
	add(&Schema{Op: "Split", MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: -1, Infer: inferSplit,
		ValueInputs: func(opset int) []int {
			if opset >= 13 || opset < 2 {
				return []int{1} // Split-1 also took split as an optional input
			}
			return nil
		}})
	add(&Schema{Op: "Slice", MinInputs: 1, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 1, Infer: inferSlice,
		ValueInputs: shValuesFrom(10, 1, 2, 3, 4)})
}

// shAxisAttr reads and normalizes an op's axis attribute against rank.
func shAxisAttr(n *Node, def int64, rank int) (int, error) {
	return NormAxis(n.Int("axis", def), rank)
}

func inferGather(n *Node, opset int, in []Operand) ([]Type, error) {
	data, idx := in[0].Type, in[1].Type
	if err := shCheckIndexType("indices", idx.DType); err != nil {
		return nil, err
	}
	if !data.Known || !idx.Known {
		return []Type{{DType: data.DType}}, nil
	}
	axis, err := shAxisAttr(n, 0, len(data.Shape))
	if err != nil {
		return nil, err
	}
	out := append([]Dim{}, data.Shape[:axis]...)
	out = append(out, idx.Shape...)
	out = append(out, data.Shape[axis+1:]...)
	return []Type{shKnown(data.DType, out)}, nil
}

func inferGatherElements(n *Node, opset int, in []Operand) ([]Type, error) {
	data, idx := in[0].Type, in[1].Type
	if err := shCheckIndexType("indices", idx.DType); err != nil {
		return nil, err
	}
	if data.Known && idx.Known && len(data.Shape) != len(idx.Shape) {
		return nil, fmt.Errorf("indices rank %d differs from data rank %d", len(idx.Shape), len(data.Shape))
	}
	if data.Known {
		if _, err := shAxisAttr(n, 0, len(data.Shape)); err != nil {
			return nil, err
		}
	}
	return []Type{{DType: data.DType, Shape: append([]Dim{}, idx.Shape...), Known: idx.Known}}, nil
}

func inferGatherND(n *Node, opset int, in []Operand) ([]Type, error) {
	data, idx := in[0].Type, in[1].Type
	if idx.DType != tensor.Undefined && idx.DType != tensor.Int64 {
		return nil, fmt.Errorf("indices must be int64, got %v", idx.DType)
	}
	if !data.Known || !idx.Known {
		return []Type{{DType: data.DType}}, nil
	}
	b := int(n.Int("batch_dims", 0))
	r, q := len(data.Shape), len(idx.Shape)
	if q < 1 || b < 0 || b >= min(r, q) {
		return nil, fmt.Errorf("batch_dims %d for data rank %d and indices rank %d", b, r, q)
	}
	last := idx.Shape[q-1]
	if !last.IsFixed() {
		return []Type{{DType: data.DType}}, nil
	}
	m := int(last.Size)
	if m < 1 || b+m > r {
		return nil, fmt.Errorf("index tuples of length %d for data rank %d with batch_dims %d", m, r, b)
	}
	out := append([]Dim{}, idx.Shape[:q-1]...)
	out = append(out, data.Shape[b+m:]...)
	return []Type{shKnown(data.DType, out)}, nil
}

// shMergeDim combines two dimensions that must be equal.
func shMergeDim(a, b Dim) (Dim, error) {
	switch {
	case a.IsFixed() && b.IsFixed():
		if a.Size != b.Size {
			return Dim{}, fmt.Errorf("dimension %d differs from %d", a.Size, b.Size)
		}
		return a, nil
	case a.IsFixed():
		return a, nil
	case b.IsFixed() || b.Sym != "":
		return b, nil
	}
	return a, nil
}

func inferConcat(n *Node, opset int, in []Operand) ([]Type, error) {
	dt := in[0].Type.DType
	rank := -1
	for i, op := range in {
		if !op.Present {
			return nil, fmt.Errorf("input %d missing", i)
		}
		if t := op.Type; t.DType != dt && t.DType != tensor.Undefined && dt != tensor.Undefined {
			return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, t.DType, dt)
		} else if dt == tensor.Undefined {
			dt = t.DType
		}
		if op.Type.Known {
			if rank >= 0 && len(op.Type.Shape) != rank {
				return nil, fmt.Errorf("input %d has rank %d, want %d", i, len(op.Type.Shape), rank)
			}
			rank = len(op.Type.Shape)
		}
	}
	if rank < 0 {
		return []Type{{DType: dt}}, nil
	}
	if opset >= 4 && !n.HasAttr("axis") {
		return nil, fmt.Errorf("missing attribute axis")
	}
	axis, err := shAxisAttr(n, 1, rank) // Concat-1 defaulted axis to 1
	if err != nil {
		return nil, err
	}
	if opset < 11 && n.Int("axis", 1) < 0 {
		return nil, fmt.Errorf("negative axis before opset 11")
	}
	out := shUnknownDims(rank)
	var along []Dim
	for i, op := range in {
		if !op.Type.Known {
			along = append(along, Unknown())
			continue
		}
		for d, x := range op.Type.Shape {
			if d == axis {
				along = append(along, x)
				continue
			}
			if out[d], err = shMergeDim(out[d], x); err != nil {
				return nil, fmt.Errorf("input %d axis %d: %w", i, d, err)
			}
		}
	}
	// The concatenated axis is the sum: fixed when all parts are, a lone
	// symbolic part when the others are empty.
	sum, nopen := int64(0), 0
	var open Dim
	for _, d := range along {
		if d.IsFixed() {
			sum += d.Size
		} else {
			nopen++
			open = d
		}
	}
	switch {
	case nopen == 0:
		out[axis] = Fixed(sum)
	case nopen == 1 && sum == 0:
		out[axis] = open
	default:
		out[axis] = Unknown()
	}
	return []Type{shKnown(dt, out)}, nil
}

// SplitSizes returns the sizes of a Split node's k outputs along an axis of
// size dim (negative when not known): the split attribute (before opset 13)
// or input (from 13; Split-1 also accepted it as input 1), else equal parts,
// the last part smaller from opset 18 when dim does not divide evenly.
// known is false when the sizes cannot be told yet.
func SplitSizes(n *Node, opset int, in []Operand, k int, dim int64) (sizes []int64, known bool, err error) {
	var split []int64
	given := false
	op := shOperand(in, 1)
	switch {
	case op.Present && (opset >= 13 || opset < 2):
		if err := shCheckIndexType("split", op.Type.DType); err != nil {
			return nil, false, err
		}
		if split, given = ConstInts(op); !given {
			return nil, false, nil
		}
	case opset < 13:
		split, given = n.Ints("split")
	}
	if opset >= 18 && n.HasAttr("num_outputs") {
		if given {
			return nil, false, fmt.Errorf("both split and num_outputs given")
		}
		if no := n.Int("num_outputs", 0); no != int64(k) {
			return nil, false, fmt.Errorf("num_outputs %d for %d outputs", no, k)
		}
	}
	if given {
		if len(split) != k {
			return nil, false, fmt.Errorf("split %v for %d outputs", split, k)
		}
		sum := int64(0)
		for _, s := range split {
			if s < 0 {
				return nil, false, fmt.Errorf("negative size in split %v", split)
			}
			sum += s
		}
		if dim >= 0 && sum != dim {
			return nil, false, fmt.Errorf("split %v sums to %d, axis has %d", split, sum, dim)
		}
		return split, true, nil
	}
	if dim < 0 {
		return nil, false, nil
	}
	sizes = make([]int64, k)
	if dim%int64(k) != 0 {
		if opset < 18 {
			return nil, false, fmt.Errorf("axis of size %d does not split into %d equal parts", dim, k)
		}
		chunk := (dim + int64(k) - 1) / int64(k)
		rest := dim
		for i := range sizes {
			sizes[i] = min(chunk, rest)
			rest -= sizes[i]
		}
		return sizes, true, nil
	}
	for i := range sizes {
		sizes[i] = dim / int64(k)
	}
	return sizes, true, nil
}

func inferSplit(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	k := len(n.Outputs)
	outs := make([]Type, k)
	if !t.Known {
		for i := range outs {
			outs[i] = Type{DType: t.DType}
		}
		return outs, nil
	}
	axis, err := shAxisAttr(n, 0, len(t.Shape))
	if err != nil {
		return nil, err
	}
	dim := t.Shape[axis].Size // negative when not fixed
	sizes, known, err := SplitSizes(n, opset, in, k, dim)
	if err != nil {
		return nil, err
	}
	for i := range outs {
		dims := append([]Dim{}, t.Shape...)
		dims[axis] = Unknown()
		if known {
			dims[axis] = Fixed(sizes[i])
		}
		outs[i] = shKnown(t.DType, dims)
	}
	return outs, nil
}

// SliceArgs is a Slice node's per-axis parameters, axes normalized.
type SliceArgs struct {
	Axes                []int
	Starts, Ends, Steps []int64
}

// SliceParams reads a Slice node's starts, ends, axes and steps for an input
// of the given rank: attributes before opset 10 (no steps), inputs 1–4 from
// then on; axes default to 0..len(starts)-1 and steps to 1. known is false
// when an input's value is not known.
func SliceParams(n *Node, opset int, in []Operand, rank int) (a SliceArgs, known bool, err error) {
	var axes []int64
	haveAxes := false
	if opset < 10 {
		var ok1, ok2 bool
		a.Starts, ok1 = n.Ints("starts")
		a.Ends, ok2 = n.Ints("ends")
		if !ok1 || !ok2 {
			return a, false, fmt.Errorf("missing attribute starts or ends")
		}
		axes, haveAxes = n.Ints("axes")
	} else {
		for i := 1; i <= 4; i++ {
			if op := shOperand(in, i); op.Present {
				if err := shCheckIndexType("slice parameter", op.Type.DType); err != nil {
					return a, false, err
				}
				if _, ok := ConstInts(op); !ok {
					return a, false, nil
				}
			}
		}
		var ok bool
		if a.Starts, ok = ConstInts(shOperand(in, 1)); !ok {
			return a, false, fmt.Errorf("missing input starts")
		}
		if a.Ends, ok = ConstInts(shOperand(in, 2)); !ok {
			return a, false, fmt.Errorf("missing input ends")
		}
		axes, haveAxes = ConstInts(shOperand(in, 3))
		a.Steps, _ = ConstInts(shOperand(in, 4))
	}
	k := len(a.Starts)
	if len(a.Ends) != k {
		return a, false, fmt.Errorf("%d starts and %d ends", k, len(a.Ends))
	}
	if !haveAxes {
		axes = make([]int64, k)
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(axes) != k {
		return a, false, fmt.Errorf("%d axes for %d starts", len(axes), k)
	}
	if a.Axes, err = shNormAxes(axes, rank, 11); err != nil {
		return a, false, err
	}
	if a.Steps == nil {
		a.Steps = make([]int64, k)
		for i := range a.Steps {
			a.Steps[i] = 1
		}
	}
	if len(a.Steps) != k {
		return a, false, fmt.Errorf("%d steps for %d starts", len(a.Steps), k)
	}
	for _, s := range a.Steps {
		if s == 0 {
			return a, false, fmt.Errorf("slice step 0")
		}
	}
	return a, true, nil
}

// SliceRange clamps one axis of a Slice as ONNX does for an axis of size dim
// and returns the first index taken and how many are taken (stepping by
// step). Negative start and end count from the end; out-of-range ones are
// clamped to [0, dim] for positive steps and [-1, dim-1] for negative ones.
func SliceRange(dim, start, end, step int64) (first, count int64) {
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start = min(max(start, 0), dim)
		end = min(max(end, 0), dim)
		if end <= start {
			return start, 0
		}
		return start, (end - start + step - 1) / step
	}
	start = min(max(start, -1), dim-1)
	end = min(max(end, -1), dim-1)
	if end >= start {
		return start, 0
	}
	return start, (start - end + (-step) - 1) / (-step)
}

// shSliceToEnd is the end value from which a slice reaches the end of any
// axis whose size Sextant could hold.
const shSliceToEnd = math.MaxInt32

func inferSlice(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	if !t.Known {
		return []Type{{DType: t.DType}}, nil
	}
	a, known, err := SliceParams(n, opset, in, len(t.Shape))
	if err != nil {
		return nil, err
	}
	out := append([]Dim{}, t.Shape...)
	if !known {
		return []Type{shKnown(t.DType, shUnknownDims(len(out)))}, nil
	}
	for i, ax := range a.Axes {
		d := t.Shape[ax]
		start, end, step := a.Starts[i], a.Ends[i], a.Steps[i]
		switch {
		case d.IsFixed():
			_, c := SliceRange(d.Size, start, end, step)
			out[ax] = Fixed(c)
		case step == 1 && start == 0 && end >= shSliceToEnd,
			step == -1 && (start == -1 || start >= shSliceToEnd) && end <= -shSliceToEnd:
			// Whole axis, forwards or backwards: the size is kept.
		default:
			out[ax] = Unknown()
		}
	}
	return []Type{shKnown(t.DType, out)}, nil
}
