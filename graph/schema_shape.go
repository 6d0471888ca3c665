package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Data-movement and shape operators: Reshape, Flatten, Squeeze, Unsqueeze,
// Transpose, Expand, Tile, Identity, Shape and Size here; Gather,
// GatherElements, GatherND, Concat, Split and Slice in schema_shape_index.go;
// Constant, ConstantOfShape and Range in schema_shape_const.go; Pad in
// schema_shape_pad.go. They are
// type-agnostic (any element type, String included). Semantics and version
// differences follow the ONNX operator specification (docs/Operators.md,
// opsets 1–18).

func addShapeSchemas(add func(*Schema)) {
	one := func(op string, minIn, maxIn int, infer InferFunc, values func(int) []int) {
		add(&Schema{Op: op, MinInputs: minIn, MaxInputs: maxIn, MinOutputs: 1, MaxOutputs: 1,
			Infer: infer, ValueInputs: values})
	}
	one("Identity", 1, 1, inferIdentity, nil)
	one("Reshape", 1, 2, inferReshape, func(opset int) []int {
		if opset < 5 {
			return nil // shape is an attribute
		}
		return []int{1}
	})
	one("Flatten", 1, 1, inferFlatten, nil)
	one("Squeeze", 1, 2, inferSqueeze, shValuesFrom(13, 1))
	one("Unsqueeze", 1, 2, inferUnsqueeze, shValuesFrom(13, 1))
	one("Transpose", 1, 1, inferTranspose, nil)
	one("Expand", 2, 2, inferExpand, shValuesFrom(0, 1))
	one("Tile", 2, 3, inferTile, func(opset int) []int {
		if opset < 6 {
			return []int{1, 2} // Tile-1: tiles and axis
		}
		return []int{1}
	})
	one("Shape", 1, 1, inferShape, nil)
	one("Size", 1, 1, inferSize, nil)
	addIndexSchemas(add)
	addConstSchemas(add)
	addPadSchema(add)
}

// shValuesFrom returns a ValueInputs function giving positions from opset
// since on and none before.
func shValuesFrom(since int, positions ...int) func(int) []int {
	return func(opset int) []int {
		if opset < since {
			return nil
		}
		return positions
	}
}

// shOperand returns input i, or the zero Operand when it is absent.
func shOperand(in []Operand, i int) Operand {
	if i < len(in) {
		return in[i]
	}
	return Operand{}
}

// shKnown is a type of known rank.
func shKnown(dt tensor.DType, dims []Dim) Type { return Type{DType: dt, Shape: dims, Known: true} }

// shUnknownDims returns n unknown dimensions.
func shUnknownDims(n int) []Dim {
	d := make([]Dim, n)
	for i := range d {
		d[i] = Unknown()
	}
	return d
}

// shFixedDims converts concrete sizes to dimensions.
func shFixedDims(v []int64) []Dim {
	d := make([]Dim, len(v))
	for i, x := range v {
		d[i] = Fixed(x)
	}
	return d
}

// shVectorLen returns the length of a 1-D operand when its type fixes it.
func shVectorLen(op Operand) (int, bool) {
	t := op.Type
	if !op.Present || !t.Known || len(t.Shape) != 1 || !t.Shape[0].IsFixed() {
		return 0, false
	}
	return int(t.Shape[0].Size), true
}

// shProduct multiplies dimensions: fixed when all are fixed (or one is 0),
// the one symbolic dimension when the others multiply to 1, else Unknown.
func shProduct(ds []Dim) Dim {
	p := int64(1)
	var other Dim
	nother := 0
	for _, d := range ds {
		if d.IsFixed() {
			p *= d.Size
			continue
		}
		nother++
		other = d
	}
	switch {
	case p == 0 || nother == 0:
		return Fixed(p)
	case nother == 1 && p == 1:
		return other
	}
	return Unknown()
}

// shCheckIndexType fails unless dt is an integer type usable as indices or
// a shape (Undefined passes: not yet inferred).
func shCheckIndexType(what string, dt tensor.DType) error {
	if dt == tensor.Undefined || dt == tensor.Int64 || dt == tensor.Int32 {
		return nil
	}
	return fmt.Errorf("%s must be int32 or int64, got %v", what, dt)
}

func inferIdentity(n *Node, opset int, in []Operand) ([]Type, error) {
	return []Type{Same(in[0])}, nil
}

func inferReshape(n *Node, opset int, in []Operand) ([]Type, error) {
	data := in[0].Type
	var shape []int64
	var known bool
	if opset < 5 {
		if shape, known = n.Ints("shape"); !known {
			return nil, fmt.Errorf("missing attribute shape")
		}
	} else {
		if !shOperand(in, 1).Present {
			return nil, fmt.Errorf("missing input shape")
		}
		if err := shCheckIndexType("shape", in[1].Type.DType); err != nil {
			return nil, err
		}
		shape, known = ConstInts(in[1])
	}
	if !known {
		if k, ok := shVectorLen(in[1]); ok {
			return []Type{shKnown(data.DType, shUnknownDims(k))}, nil
		}
		return []Type{{DType: data.DType}}, nil
	}
	dims, err := ReshapeDims(data, shape, opset >= 14 && n.Int("allowzero", 0) != 0)
	if err != nil {
		return nil, err
	}
	return []Type{shKnown(data.DType, dims)}, nil
}

// ReshapeDims computes Reshape's output dimensions for an input of type in
// and a target shape: 0 copies the input's dimension at that position
// (unless allowZero, when it means size 0) and one -1 takes whatever size
// keeps the element count. Symbolic input dimensions carried by 0 still
// let -1 be computed.
func ReshapeDims(in Type, shape []int64, allowZero bool) ([]Dim, error) {
	out := make([]Dim, len(shape))
	neg := -1
	copied := make([]bool, len(in.Shape))
	hasZero := false
	for i, s := range shape {
		switch {
		case s == -1:
			if neg >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", shape)
			}
			neg = i
		case s == 0 && !allowZero:
			hasZero = true
			if !in.Known {
				out[i] = Unknown()
				continue
			}
			if i >= len(in.Shape) {
				return nil, fmt.Errorf("shape %v copies dimension %d of a rank-%d input", shape, i, len(in.Shape))
			}
			out[i] = in.Shape[i]
			copied[i] = true
		case s < 0:
			return nil, fmt.Errorf("shape %v has invalid dimension %d", shape, s)
		default:
			if s == 0 {
				hasZero = true
			}
			out[i] = Fixed(s)
		}
	}
	if allowZero && hasZero && neg >= 0 {
		return nil, fmt.Errorf("shape %v has both 0 and -1 with allowzero", shape)
	}
	if !in.Known {
		if neg >= 0 {
			out[neg] = Unknown()
		}
		return out, nil
	}
	// Positions copied by 0 cancel; what is left of the input, divided by
	// the fixed output sizes, is the -1 dimension.
	inFixed, outFixed := int64(1), int64(1)
	open := false // the input has a non-fixed dimension that is not copied
	for i, d := range in.Shape {
		switch {
		case copied[i]:
		case d.IsFixed():
			inFixed *= d.Size
		default:
			open = true
		}
	}
	for i, d := range out {
		if i != neg && !(i < len(copied) && copied[i]) {
			outFixed *= d.Size
		}
	}
	if neg < 0 {
		if !open && inFixed != outFixed {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, shape)
		}
		return out, nil
	}
	switch {
	case open:
		out[neg] = Unknown()
	case outFixed == 0:
		if inFixed != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", in, shape)
		}
		return nil, fmt.Errorf("shape %v: -1 is ambiguous for an empty tensor", shape)
	case inFixed%outFixed != 0:
		return nil, fmt.Errorf("cannot reshape %v to %v", in, shape)
	default:
		out[neg] = Fixed(inFixed / outFixed)
	}
	return out, nil
}

func inferFlatten(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	axis := n.Int("axis", 1)
	if !t.Known {
		return []Type{shKnown(t.DType, shUnknownDims(2))}, nil
	}
	r := int64(len(t.Shape))
	if axis < -r || axis > r || (opset < 11 && axis < 0) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += r
	}
	return []Type{shKnown(t.DType, []Dim{shProduct(t.Shape[:axis]), shProduct(t.Shape[axis:])})}, nil
}

// shAxesArg reads the axes of Squeeze or Unsqueeze: an attribute before
// opset 13, input 1 from then on. given is false when there are none;
// known is false when they are an input whose value is not known.
func shAxesArg(n *Node, opset int, in []Operand) (axes []int64, given, known bool, err error) {
	if opset < 13 {
		axes, given = n.Ints("axes")
		return axes, given, true, nil
	}
	op := shOperand(in, 1)
	if !op.Present {
		return nil, false, true, nil
	}
	if err := shCheckIndexType("axes", op.Type.DType); err != nil {
		return nil, true, false, err
	}
	axes, known = ConstInts(op)
	return axes, true, known, nil
}

// shNormAxes normalizes axes against rank, rejecting repeats (and negative
// axes before opset 11, which introduced them).
func shNormAxes(axes []int64, rank, opset int) ([]int, error) {
	seen := make([]bool, rank)
	out := make([]int, len(axes))
	for i, a := range axes {
		if opset < 11 && a < 0 {
			return nil, fmt.Errorf("negative axis %d before opset 11", a)
		}
		x, err := NormAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[x] {
			return nil, fmt.Errorf("axis %d repeated in %v", a, axes)
		}
		seen[x] = true
		out[i] = x
	}
	return out, nil
}

func inferSqueeze(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	axes, given, known, err := shAxesArg(n, opset, in)
	if err != nil {
		return nil, err
	}
	if !t.Known {
		return []Type{{DType: t.DType}}, nil
	}
	if !known {
		if k, ok := shVectorLen(in[1]); ok && k <= len(t.Shape) {
			return []Type{shKnown(t.DType, shUnknownDims(len(t.Shape)-k))}, nil
		}
		return []Type{{DType: t.DType}}, nil
	}
	var out []Dim
	if !given {
		for _, d := range t.Shape {
			switch {
			case d.IsFixed() && d.Size == 1:
			case d.IsFixed():
				out = append(out, d)
			default:
				return []Type{{DType: t.DType}}, nil // a symbolic size may be 1
			}
		}
		return []Type{shKnown(t.DType, out)}, nil
	}
	norm, err := shNormAxes(axes, len(t.Shape), opset)
	if err != nil {
		return nil, err
	}
	drop := make([]bool, len(t.Shape))
	for _, a := range norm {
		if d := t.Shape[a]; d.IsFixed() && d.Size != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, d.Size)
		}
		drop[a] = true
	}
	out = []Dim{}
	for i, d := range t.Shape {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return []Type{shKnown(t.DType, out)}, nil
}

func inferUnsqueeze(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	axes, given, known, err := shAxesArg(n, opset, in)
	if err != nil {
		return nil, err
	}
	if !given {
		return nil, fmt.Errorf("missing axes")
	}
	if !t.Known {
		return []Type{{DType: t.DType}}, nil
	}
	if !known {
		if k, ok := shVectorLen(in[1]); ok {
			return []Type{shKnown(t.DType, shUnknownDims(len(t.Shape)+k))}, nil
		}
		return []Type{{DType: t.DType}}, nil
	}
	rank := len(t.Shape) + len(axes)
	norm, err := shNormAxes(axes, rank, opset)
	if err != nil {
		return nil, err
	}
	out := make([]Dim, rank)
	ones := make([]bool, rank)
	for _, a := range norm {
		ones[a] = true
		out[a] = Fixed(1)
	}
	j := 0
	for i := range out {
		if !ones[i] {
			out[i] = t.Shape[j]
			j++
		}
	}
	return []Type{shKnown(t.DType, out)}, nil
}

// TransposePerm returns a Transpose node's permutation for an input of the
// given rank: its perm attribute, or the axes reversed when it has none.
func TransposePerm(n *Node, rank int) ([]int, error) {
	p, ok := n.Ints("perm")
	if !ok {
		perm := make([]int, rank)
		for i := range perm {
			perm[i] = rank - 1 - i
		}
		return perm, nil
	}
	if len(p) != rank {
		return nil, fmt.Errorf("perm %v for a rank-%d input", p, rank)
	}
	perm := make([]int, rank)
	seen := make([]bool, rank)
	for i, a := range p {
		if a < 0 || a >= int64(rank) || seen[a] {
			return nil, fmt.Errorf("perm %v is not a permutation", p)
		}
		seen[a] = true
		perm[i] = int(a)
	}
	return perm, nil
}

func inferTranspose(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	if !t.Known {
		if p, ok := n.Ints("perm"); ok {
			return []Type{shKnown(t.DType, shUnknownDims(len(p)))}, nil
		}
		return []Type{{DType: t.DType}}, nil
	}
	perm, err := TransposePerm(n, len(t.Shape))
	if err != nil {
		return nil, err
	}
	out := make([]Dim, len(perm))
	for i, p := range perm {
		out[i] = t.Shape[p]
	}
	return []Type{shKnown(t.DType, out)}, nil
}

func inferExpand(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	if err := shCheckIndexType("shape", in[1].Type.DType); err != nil {
		return nil, err
	}
	var target []Dim
	if shape, ok := ConstInts(in[1]); ok {
		for _, s := range shape {
			if s < 0 {
				return nil, fmt.Errorf("shape %v has a negative dimension", shape)
			}
		}
		target = shFixedDims(shape)
	} else if k, ok := shVectorLen(in[1]); ok {
		target = shUnknownDims(k)
	} else {
		return []Type{{DType: t.DType}}, nil
	}
	if !t.Known {
		return []Type{{DType: t.DType}}, nil
	}
	out, err := BroadcastDims(t.Shape, target)
	if err != nil {
		return nil, err
	}
	return []Type{shKnown(t.DType, out)}, nil
}

// TileRepeats returns a Tile node's repeats for a rank-rank input: input 1
// from opset 6; before it, Tile-1's scalar tiles input repeated along its
// scalar axis input. known is false when a value is not known.
func TileRepeats(opset, rank int, in []Operand) (reps []int64, known bool, err error) {
	if opset >= 6 {
		if err := shCheckIndexType("repeats", in[1].Type.DType); err != nil {
			return nil, false, err
		}
		r, ok := ConstInts(in[1])
		if !ok {
			return nil, false, nil
		}
		if len(r) != rank {
			return nil, false, fmt.Errorf("%d repeats for a rank-%d input", len(r), rank)
		}
		for _, x := range r {
			if x < 0 {
				return nil, false, fmt.Errorf("negative repeat in %v", r)
			}
		}
		return r, true, nil
	}
	tiles, ok1 := ConstInts(in[1])
	axis, ok2 := ConstInts(shOperand(in, 2))
	if !ok1 || !ok2 {
		return nil, false, nil
	}
	if len(tiles) != 1 || len(axis) != 1 || tiles[0] < 0 {
		return nil, false, fmt.Errorf("Tile-1 wants scalar tiles and axis, got %v and %v", tiles, axis)
	}
	a, err := NormAxis(axis[0], rank)
	if err != nil {
		return nil, false, err
	}
	reps = make([]int64, rank)
	for i := range reps {
		reps[i] = 1
	}
	reps[a] = tiles[0]
	return reps, true, nil
}

func inferTile(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	if !t.Known {
		return []Type{{DType: t.DType}}, nil
	}
	reps, known, err := TileRepeats(opset, len(t.Shape), in)
	if err != nil {
		return nil, err
	}
	out := make([]Dim, len(t.Shape))
	for i, d := range t.Shape {
		switch {
		case !known:
			out[i] = Unknown()
			if d.IsFixed() && d.Size == 0 {
				out[i] = d
			}
		case d.IsFixed():
			out[i] = Fixed(d.Size * reps[i])
		case reps[i] == 1:
			out[i] = d
		case reps[i] == 0:
			out[i] = Fixed(0)
		default:
			out[i] = Unknown()
		}
	}
	return []Type{shKnown(t.DType, out)}, nil
}

// ShapeRange returns the [start, end) range of dimensions a Shape node
// reports for a rank-rank input: all of them before opset 15, else its start
// and end attributes, negative ones counted from the end, clamped to
// [0, rank].
func ShapeRange(n *Node, opset, rank int) (start, end int) {
	if opset < 15 {
		return 0, rank
	}
	clamp := func(v int64) int {
		if v < 0 {
			v += int64(rank)
		}
		return int(min(max(v, 0), int64(rank)))
	}
	start = clamp(n.Int("start", 0))
	end = clamp(n.Int("end", int64(rank)))
	return start, max(end, start)
}

func inferShape(n *Node, opset int, in []Operand) ([]Type, error) {
	t := in[0].Type
	if !t.Known {
		return []Type{shKnown(tensor.Int64, []Dim{Unknown()})}, nil
	}
	start, end := ShapeRange(n, opset, len(t.Shape))
	return []Type{shKnown(tensor.Int64, []Dim{Fixed(int64(end - start))})}, nil
}

func inferSize(n *Node, opset int, in []Operand) ([]Type, error) {
	return []Type{shKnown(tensor.Int64, []Dim{})}, nil
}
