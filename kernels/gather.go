package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Gather, GatherElements and GatherND read indices at run time: a negative
// index counts from the end of its axis, and one out of range is an error
// returned by Run (never a panic, never a read out of bounds).

// indexError reports an out-of-range index (built only on the error path).
func indexError(op string, v int64, dim int) error {
	return fmt.Errorf("%s: index %d out of range for axis of size %d", op, v, dim)
}

// normIndex maps a possibly negative index into [0, dim).
func normIndex(v int64, dim int) (int, bool) {
	if v < 0 {
		v += int64(dim)
	}
	if v < 0 || v >= int64(dim) {
		return 0, false
	}
	return int(v), true
}

// checkIndices fails unless t holds int32 or int64 indices.
func checkIndices(op string, t *tensor.Tensor) error {
	if t.DType != tensor.Int64 && t.DType != tensor.Int32 {
		return fmt.Errorf("%s: indices must be int32 or int64, got %v", op, t.DType)
	}
	return nil
}

func newGather(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, idx := in[0], in[1]
		if err := checkIndices("Gather", idx); err != nil {
			return Step{}, err
		}
		axis, err := graph.NormAxis(n.Int("axis", 0), x.Rank())
		if err != nil {
			return Step{}, fmt.Errorf("Gather: %w", err)
		}
		shape := append(append(x.Shape[:axis:axis].Clone(), idx.Shape...), x.Shape[axis+1:]...)
		if err := shCheckOut("Gather", out, x.DType, shape); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		outer := x.Shape[:axis].NumElements()
		dim := x.Shape[axis]
		inner := x.Shape[axis+1:].NumElements()
		es := x.DType.Size()
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			if in[1].DType == tensor.Int64 {
				return gatherBlocks(out[0], in[0], tensor.Data[int64](in[1]), es, outer, dim, inner)
			}
			return gatherBlocks(out[0], in[0], tensor.Data[int32](in[1]), es, outer, dim, inner)
		}}, nil
	}), nil
}

// gatherBlocks copies, for each of outer slabs of dim·inner source
// elements, the inner-element blocks the indices select.
func gatherBlocks[I int32 | int64](dst, src *tensor.Tensor, idx []I, es, outer, dim, inner int) error {
	for _, v := range idx {
		if _, ok := normIndex(int64(v), dim); !ok {
			return indexError("Gather", int64(v), dim)
		}
	}
	d := 0
	for o := 0; o < outer; o++ {
		base := o * dim
		for _, v := range idx {
			k := int(v)
			if k < 0 {
				k += dim
			}
			moveBlocks(dst, src, es, 1, inner, d, 0, (base+k)*inner, 0)
			d += inner
		}
	}
	return nil
}

func newGatherElements(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, idx := in[0], in[1]
		if err := checkIndices("GatherElements", idx); err != nil {
			return Step{}, err
		}
		r := x.Rank()
		axis, err := graph.NormAxis(n.Int("axis", 0), r)
		if err != nil {
			return Step{}, fmt.Errorf("GatherElements: %w", err)
		}
		if idx.Rank() != r || r > maxLoopRank {
			return Step{}, fmt.Errorf("GatherElements: indices %v for data %v", idx.Shape, x.Shape)
		}
		for d := range r {
			if d != axis && idx.Shape[d] > x.Shape[d] {
				return Step{}, fmt.Errorf("GatherElements: indices %v exceed data %v on axis %d", idx.Shape, x.Shape, d)
			}
		}
		if err := shCheckOut("GatherElements", out, x.DType, idx.Shape); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) || idx.Len() == 0 {
			return shNoop, nil
		}
		w := &elemsWalk{shape: idx.Shape.Clone(), strides: x.Shape.Strides(), axis: axis, dim: x.Shape[axis]}
		w.axisStride = w.strides[axis]
		w.strides[axis] = 0
		es := x.DType.Size()
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			o, x, idx := out[0], in[0], in[1]
			if idx.DType == tensor.Int64 {
				return gatherElemsBySize(w, o, x, tensor.Data[int64](idx), es)
			}
			return gatherElemsBySize(w, o, x, tensor.Data[int32](idx), es)
		}}, nil
	}), nil
}

// elemsWalk walks the indices of GatherElements in row-major order, keeping
// the offset of the matching data element with the axis coordinate left out.
type elemsWalk struct {
	shape      []int // indices (and output) shape
	strides    []int // data strides, 0 on the gather axis
	axis, dim  int
	axisStride int
}

func gatherElemsBySize[I int32 | int64](w *elemsWalk, o, x *tensor.Tensor, idx []I, es int) error {
	switch es {
	case 0:
		return gatherElems(w, o.Strs, x.Strs, idx)
	case 1:
		return gatherElems(w, o.Raw, x.Raw, idx)
	case 2:
		return gatherElems(w, tensor.Cast[uint16](o.Raw), tensor.Cast[uint16](x.Raw), idx)
	case 4:
		return gatherElems(w, tensor.Cast[uint32](o.Raw), tensor.Cast[uint32](x.Raw), idx)
	case 8:
		return gatherElems(w, tensor.Cast[uint64](o.Raw), tensor.Cast[uint64](x.Raw), idx)
	}
	return unsupportedDType("GatherElements", o.DType)
}

func gatherElems[T any, I int32 | int64](w *elemsWalk, dst, src []T, idx []I) error {
	var c [maxLoopRank]int
	r := len(w.shape)
	base := 0
	for i, v := range idx {
		k, ok := normIndex(int64(v), w.dim)
		if !ok {
			return indexError("GatherElements", int64(v), w.dim)
		}
		dst[i] = src[base+k*w.axisStride]
		for d := r - 1; d >= 0; d-- {
			c[d]++
			base += w.strides[d]
			if c[d] < w.shape[d] {
				break
			}
			base -= w.strides[d] * w.shape[d]
			c[d] = 0
		}
	}
	return nil
}

func newGatherND(n *graph.Node, opset int) (Kernel, error) {
	b := int(n.Int("batch_dims", 0))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, idx := in[0], in[1]
		if idx.DType != tensor.Int64 {
			return Step{}, fmt.Errorf("GatherND: indices must be int64, got %v", idx.DType)
		}
		r, q := x.Rank(), idx.Rank()
		if q < 1 || b < 0 || b >= min(r, q) {
			return Step{}, fmt.Errorf("GatherND: batch_dims %d for data %v and indices %v", b, x.Shape, idx.Shape)
		}
		m := idx.Shape[q-1]
		if m < 1 || b+m > r || !x.Shape[:b].Equal(idx.Shape[:b]) {
			return Step{}, fmt.Errorf("GatherND: indices %v for data %v with batch_dims %d", idx.Shape, x.Shape, b)
		}
		shape := append(idx.Shape[:q-1:q-1].Clone(), x.Shape[b+m:]...)
		if err := shCheckOut("GatherND", out, x.DType, shape); err != nil {
			return Step{}, err
		}
		if !shOutputUsed(out) {
			return shNoop, nil
		}
		p := &gatherNDPlan{
			batches:     x.Shape[:b].NumElements(),
			perBatch:    idx.Shape[b : q-1].NumElements(),
			m:           m,
			block:       x.Shape[b+m:].NumElements(),
			batchStride: x.Shape[b:].NumElements(),
			dims:        x.Shape[b : b+m].Clone(),
			strides:     x.Shape.Strides()[b : b+m],
			es:          x.DType.Size(),
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
			return p.run(out[0], in[0], tensor.Data[int64](in[1]))
		}}, nil
	}), nil
}

// gatherNDPlan is GatherND specialized to shapes.
type gatherNDPlan struct {
	batches, perBatch, m, block, batchStride int
	dims, strides                            []int // indexed data axes
	es                                       int
}

func (p *gatherNDPlan) run(dst, src *tensor.Tensor, idx []int64) error {
	t, d := 0, 0
	for bi := 0; bi < p.batches; bi++ {
		for g := 0; g < p.perBatch; g++ {
			off := bi * p.batchStride
			for k := 0; k < p.m; k++ {
				v := idx[t+k]
				j, ok := normIndex(v, p.dims[k])
				if !ok {
					return indexError("GatherND", v, p.dims[k])
				}
				off += j * p.strides[k]
			}
			t += p.m
			moveBlocks(dst, src, p.es, 1, p.block, d, 0, off, 0)
			d += p.block
		}
	}
	return nil
}
