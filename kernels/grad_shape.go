package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Gradients of the broadcasting, reducing and indexing operators: they move
// dY back to the layout of the forward op's input.

func addGradShape(add func(string, Factory)) {
	add("ReduceSumTo", newReduceSumTo)
	add("ReduceGrad", newReduceGrad)
	add("GatherGrad", newGatherGrad)
	add("SliceGrad", newSliceGrad)
	add("ConcatGrad", newConcatGrad)
}

// bcastRows maps a tensor of shape small, broadcast to big, row by row: big
// is viewed as rows of inner (its last dimension) elements, and row r of big
// reads small from element rowOff[r] with stride step (0 or 1).
type bcastRows struct {
	rowOff      []int32
	inner, step int
	same        bool // small has big's element count: a plain copy
}

func newBcastRows(small, big tensor.Shape) (*bcastRows, error) {
	if bs, err := tensor.BroadcastShapes(small, big); err != nil || !bs.Equal(big) {
		return nil, fmt.Errorf("%w: %v does not broadcast to %v", tensor.ErrShape, small, big)
	}
	b := &bcastRows{inner: 1, same: small.NumElements() == big.NumElements()}
	if len(big) == 0 || b.same {
		b.rowOff = []int32{0}
		b.inner, b.step = big.NumElements(), 1
		return b, nil
	}
	st := tensor.BroadcastStrides(small, big)
	last := len(big) - 1
	b.inner, b.step = big[last], st[last]
	if b.inner == 0 {
		return b, nil
	}
	rows := big.NumElements() / b.inner
	b.rowOff = make([]int32, rows)
	for r := range b.rowOff {
		rem, off := r, 0
		for d := last - 1; d >= 0; d-- {
			off += (rem % big[d]) * st[d]
			rem /= big[d]
		}
		b.rowOff[r] = int32(off)
	}
	return b, nil
}

// newReduceSumTo is (dY, Like) → dY summed over the axes along which Like
// was broadcast to dY's shape (NumPy rules): the gradient of a broadcasting
// operand.
func newReduceSumTo(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, like := in[0], in[1]
		b, err := newBcastRows(like.Shape, dy.Shape)
		if err != nil {
			return Step{}, fmt.Errorf("ReduceSumTo: %w", err)
		}
		if err := checkOut(out, 0, like.Shape); err != nil {
			return Step{}, err
		}
		return floatStep("ReduceSumTo", dy.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { reduceSumToRun[float32](b, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { reduceSumToRun[float64](b, in, out); return nil })
	}), nil
}

func reduceSumToRun[T floatElem](b *bcastRows, in, out []*tensor.Tensor) {
	dy, dx := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	if b.same {
		copy(dx, dy)
		return
	}
	clear(dx)
	for r, off := range b.rowOff {
		row := dy[r*b.inner : (r+1)*b.inner]
		if b.step == 0 {
			var s T
			for _, v := range row {
				s += v
			}
			dx[off] += s
			continue
		}
		d := dx[off : int(off)+b.inner]
		for j, v := range row {
			d[j] += v
		}
	}
}

// newReduceGrad is (dY, X) → dX for ReduceSum (mean=0) and ReduceMean
// (mean=1) over the axes attribute (empty: all axes): dY, with or without
// the kept axes, is broadcast back to X's shape (and divided by the number
// of elements reduced for the mean).
func newReduceGrad(n *graph.Node, opset int) (Kernel, error) {
	axes, _ := n.Ints("axes")
	mean := n.Int("mean", 0) != 0
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, x := in[0], in[1]
		keep := x.Shape.Clone()
		if len(axes) == 0 {
			for i := range keep {
				keep[i] = 1
			}
		}
		for _, a := range axes {
			ax, err := tensor.NormalizeAxis(int(a), len(keep))
			if err != nil {
				return Step{}, fmt.Errorf("ReduceGrad: %w", err)
			}
			keep[ax] = 1
		}
		if dy.Len() != keep.NumElements() {
			return Step{}, fmt.Errorf("%w: ReduceGrad dY %v for X %v over axes %v", tensor.ErrShape, dy, x, axes)
		}
		b, err := newBcastRows(keep, x.Shape)
		if err != nil {
			return Step{}, fmt.Errorf("ReduceGrad: %w", err)
		}
		if err := checkOut(out, 0, x.Shape); err != nil {
			return Step{}, err
		}
		scale := 1.0
		if mean && keep.NumElements() > 0 {
			scale = float64(keep.NumElements()) / float64(max(x.Shape.NumElements(), 1))
		}
		return floatStep("ReduceGrad", x.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { reduceGradRun[float32](b, scale, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { reduceGradRun[float64](b, scale, in, out); return nil })
	}), nil
}

func reduceGradRun[T floatElem](b *bcastRows, scale float64, in, out []*tensor.Tensor) {
	dy, dx := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	s := T(scale)
	for r, off := range b.rowOff {
		row := dx[r*b.inner : (r+1)*b.inner]
		for j := range row {
			row[j] = dy[int(off)+j*b.step] * s
		}
	}
}

// newGatherGrad is (dY, Indices, Data) → dData of Gather(Data, Indices,
// axis): zeros, with each gathered slice of dY added back at its index
// (repeated indices accumulate).
func newGatherGrad(n *graph.Node, opset int) (Kernel, error) {
	axis := n.Int("axis", 0)
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, idx, data := in[0], in[1], in[2]
		ax, err := tensor.NormalizeAxis(int(axis), len(data.Shape))
		if err != nil {
			return Step{}, fmt.Errorf("GatherGrad: %w", err)
		}
		if err := checkIndices("GatherGrad", idx); err != nil {
			return Step{}, err
		}
		outer, dim, inner := data.Shape[:ax].NumElements(), data.Shape[ax], data.Shape[ax+1:].NumElements()
		if dy.Len() != outer*idx.Len()*inner || dy.DType != data.DType {
			return Step{}, fmt.Errorf("%w: GatherGrad dY %v for data %v and indices %v", tensor.ErrShape, dy, data, idx)
		}
		if err := checkOut(out, 0, data.Shape); err != nil {
			return Step{}, err
		}
		g := &gatherGradPlan{outer: outer, dim: dim, inner: inner, n: idx.Len()}
		return floatStep("GatherGrad", data.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { return gatherGradRun[float32](g, in, out) },
			func(in, out []*tensor.Tensor, _ []byte) error { return gatherGradRun[float64](g, in, out) })
	}), nil
}

type gatherGradPlan struct{ outer, dim, inner, n int }

func gatherGradRun[T floatElem](p *gatherGradPlan, in, out []*tensor.Tensor) error {
	dy, dd := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	clear(dd)
	for k := 0; k < p.n; k++ {
		var v int64
		if in[1].DType == tensor.Int32 {
			v = int64(tensor.Data[int32](in[1])[k])
		} else {
			v = tensor.Data[int64](in[1])[k]
		}
		i, ok := normIndex(v, p.dim)
		if !ok {
			return indexError("GatherGrad", v, p.dim)
		}
		for o := 0; o < p.outer; o++ {
			src := dy[(o*p.n+k)*p.inner : (o*p.n+k+1)*p.inner]
			dst := dd[(o*p.dim+i)*p.inner : (o*p.dim+i+1)*p.inner]
			for j, s := range src {
				dst[j] += s
			}
		}
	}
	return nil
}

// newSliceGrad is (dY, X, starts, ends[, axes[, steps]]) → dX of Slice
// (opset-10+ form): zeros with dY written at the sliced positions.
func newSliceGrad(n *graph.Node, opset int) (Kernel, error) {
	slice := &graph.Node{Op: "Slice", Attrs: map[string]*graph.Attr{}}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy, x := in[0], in[1]
		a, known, err := graph.SliceParams(slice, 13, shOperands(in[1:]), x.Rank())
		if err != nil || !known {
			return Step{}, fmt.Errorf("SliceGrad: parameters: %v (known %v)", err, known)
		}
		shape, strides, base := sliceView(x.Shape, a)
		if !dy.Shape.Equal(shape) || len(shape) > maxLoopRank {
			return Step{}, fmt.Errorf("%w: SliceGrad dY %v, want %v", tensor.ErrShape, dy, shape)
		}
		if err := checkOut(out, 0, x.Shape); err != nil {
			return Step{}, err
		}
		p := &sliceGradPlan{shape: shape, strides: strides, base: base}
		return floatStep("SliceGrad", x.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { sliceGradRun[float32](p, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { sliceGradRun[float64](p, in, out); return nil })
	}), nil
}

type sliceGradPlan struct {
	shape, strides []int
	base           int
}

func sliceGradRun[T floatElem](p *sliceGradPlan, in, out []*tensor.Tensor) {
	dy, dx := tensor.Data[T](in[0]), tensor.Data[T](out[0])
	clear(dx)
	if len(dy) == 0 {
		return
	}
	var idx [maxLoopRank]int
	off := p.base
	for i, v := range dy {
		dx[off] = v
		if i == len(dy)-1 {
			break
		}
		for d := len(p.shape) - 1; d >= 0; d-- {
			idx[d]++
			off += p.strides[d]
			if idx[d] < p.shape[d] {
				break
			}
			off -= idx[d] * p.strides[d]
			idx[d] = 0
		}
	}
}

// newConcatGrad is (dY, X₀, …) → dX₀, … of Concat(axis): each output is its
// input's slab of dY.
func newConcatGrad(n *graph.Node, opset int) (Kernel, error) {
	axis := n.Int("axis", 0)
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		dy := in[0]
		ax, err := tensor.NormalizeAxis(int(axis), len(dy.Shape))
		if err != nil {
			return Step{}, fmt.Errorf("ConcatGrad: %w", err)
		}
		inner := dy.Shape[ax+1:].NumElements()
		p := &concatGradPlan{outer: dy.Shape[:ax].NumElements(), total: dy.Shape[ax] * inner, es: dy.DType.Size()}
		sum := 0
		for i, x := range in[1:] {
			if err := checkOut(out, i, x.Shape); err != nil {
				return Step{}, err
			}
			if len(x.Shape) != len(dy.Shape) {
				return Step{}, fmt.Errorf("%w: ConcatGrad input %v for dY %v", tensor.ErrShape, x, dy)
			}
			p.widths = append(p.widths, x.Shape[ax]*inner)
			sum += x.Shape[ax]
		}
		if sum != dy.Shape[ax] {
			return Step{}, fmt.Errorf("%w: ConcatGrad inputs cover %d of %d along axis %d", tensor.ErrShape, sum, dy.Shape[ax], ax)
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { p.run(in[0], out); return nil }}, nil
	}), nil
}

type concatGradPlan struct {
	outer, total, es int
	widths           []int
}

func (p *concatGradPlan) run(dy *tensor.Tensor, out []*tensor.Tensor) {
	start := 0
	for i, w := range p.widths {
		if o := out[i]; o != nil {
			for r := 0; r < p.outer; r++ {
				copy(o.Raw[r*w*p.es:(r+1)*w*p.es], dy.Raw[(r*p.total+start)*p.es:(r*p.total+start+w)*p.es])
			}
		}
		start += w
	}
}
