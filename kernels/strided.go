package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// Data movement is type-agnostic: kernels move elements by size (1, 2, 4 or
// 8 bytes, reinterpreted as unsigned integers) or, for String tensors, move
// the Strs headers.

// maxLoopRank bounds the number of (merged) loop axes a strided walk keeps
// its counters for on the stack.
const maxLoopRank = 16

// stridedCopy is a precomputed walk that writes a whole output, in row-major
// order, from source elements at arbitrary (possibly zero or negative)
// strides: it implements Transpose, Slice, Expand and Tile. Adjacent axes
// that stay contiguous in the source are merged, and the innermost run is a
// copy() when its source stride is 1.
type stridedCopy struct {
	es      int   // element size in bytes; 0 for String
	dims    []int // outer loop extents, outermost first
	strides []int // source element stride of each outer axis
	run     int   // elements in the innermost run
	step    int   // source stride along the run
	base    int   // source element offset of output element 0
	total   int   // output elements
	// rows > 0 selects the tiled walk: the innermost outer axis (rows long)
	// is contiguous in the source while the run is not, as in a 2-D
	// transpose, so the rows×run block is moved in cache-sized tiles.
	rows int
}

// tileSize is the edge of the square tiles a transposing walk moves: 16×16
// elements of up to 8 bytes stay within L1 on both sides.
const tileSize = 16

// newStridedCopy plans the walk of an output of shape out whose element at
// index (i0, ..., ik) is source element base + Σ ij·strides[j].
func newStridedCopy(dt tensor.DType, out tensor.Shape, strides []int, base int) (*stridedCopy, error) {
	p := &stridedCopy{es: dt.Size(), base: base, total: out.NumElements()}
	if dt != tensor.String && p.es == 0 {
		return nil, unsupportedDType("copy", dt)
	}
	if p.total == 0 {
		return p, nil
	}
	var dims, st []int
	for i, d := range out {
		if d == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && st[k] == strides[i]*d {
			dims[k] *= d
			st[k] = strides[i]
			continue
		}
		dims = append(dims, d)
		st = append(st, strides[i])
	}
	if len(dims) == 0 {
		dims, st = []int{1}, []int{0}
	}
	k := len(dims) - 1
	p.run, p.step = dims[k], st[k]
	p.dims, p.strides = dims[:k], st[:k]
	if len(p.dims) > maxLoopRank {
		return nil, fmt.Errorf("copy walks %d axes, more than %d", len(p.dims), maxLoopRank)
	}
	if k > 0 && p.strides[k-1] == 1 && p.step != 1 && p.step != 0 && p.run >= tileSize/2 && p.dims[k-1] >= tileSize/2 {
		p.rows = p.dims[k-1]
		p.dims, p.strides = p.dims[:k-1], p.strides[:k-1]
	}
	return p, nil
}

// do writes dst's elements [dOff, dOff+total) from src. It does not allocate.
func (p *stridedCopy) do(dst, src *tensor.Tensor, dOff int) {
	if p.total == 0 {
		return
	}
	switch p.es {
	case 0:
		stridedWalk(p, dst.Strs, src.Strs, dOff)
	case 1:
		stridedWalk(p, dst.Raw, src.Raw, dOff)
	case 2:
		stridedWalk(p, tensor.Cast[uint16](dst.Raw), tensor.Cast[uint16](src.Raw), dOff)
	case 4:
		stridedWalk(p, tensor.Cast[uint32](dst.Raw), tensor.Cast[uint32](src.Raw), dOff)
	case 8:
		stridedWalk(p, tensor.Cast[uint64](dst.Raw), tensor.Cast[uint64](src.Raw), dOff)
	}
}

func stridedWalk[T any](p *stridedCopy, dst, src []T, d int) {
	var idx [maxLoopRank]int
	s := p.base
	nd := len(p.dims)
	run, step := p.run, p.step
	for {
		switch {
		case p.rows > 0:
			transposeTiles(dst[d:d+p.rows*run], src, s, p.rows, run, step)
			d += (p.rows - 1) * run
		case step == 1:
			copy(dst[d:d+run], src[s:s+run])
		case step == 0:
			v := src[s]
			row := dst[d : d+run]
			for k := range row {
				row[k] = v
			}
		default:
			row := dst[d : d+run]
			j := s
			for k := range row {
				row[k] = src[j]
				j += step
			}
		}
		d += run
		k := nd - 1
		for ; k >= 0; k-- {
			idx[k]++
			s += p.strides[k]
			if idx[k] < p.dims[k] {
				break
			}
			s -= p.strides[k] * p.dims[k]
			idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

// transposeTiles writes dst[r·cols+c] = src[s+r+c·step] for a rows×cols
// block, tile by tile.
func transposeTiles[T any](dst, src []T, s, rows, cols, step int) {
	for r0 := 0; r0 < rows; r0 += tileSize {
		r1 := min(r0+tileSize, rows)
		for c0 := 0; c0 < cols; c0 += tileSize {
			c1 := min(c0+tileSize, cols)
			for r := r0; r < r1; r++ {
				row := dst[r*cols+c0 : r*cols+c1]
				j := s + r + c0*step
				for c := range row {
					row[c] = src[j]
					j += step
				}
			}
		}
	}
}

// stridedStep returns a Step that fills output 0 from input 0 with plan p.
func stridedStep(p *stridedCopy) Step {
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		p.do(out[0], in[0], 0)
		return nil
	}}
}

// copyAll copies all of src's elements to dst (same type and length).
func copyAll(dst, src *tensor.Tensor) {
	if src.DType == tensor.String {
		copy(dst.Strs, src.Strs)
		return
	}
	copy(dst.Raw, src.Raw)
}

// moveBlocks copies n blocks of block elements from src to dst, the i-th
// from src element sOff+i·sStride to dst element dOff+i·dStride; es is the
// element size (0 for String).
func moveBlocks(dst, src *tensor.Tensor, es, n, block, dOff, dStride, sOff, sStride int) {
	if block == 0 {
		return
	}
	if es == 0 {
		for i := 0; i < n; i++ {
			copy(dst.Strs[dOff:dOff+block], src.Strs[sOff:sOff+block])
			dOff += dStride
			sOff += sStride
		}
		return
	}
	nb := block * es
	d, s := dOff*es, sOff*es
	ds, ss := dStride*es, sStride*es
	for i := 0; i < n; i++ {
		copy(dst.Raw[d:d+nb], src.Raw[s:s+nb])
		d += ds
		s += ss
	}
}

// sameDType fails unless every present output has dt.
func sameDType(op string, dt tensor.DType, out []*tensor.Tensor) error {
	for i, o := range out {
		if o != nil && o.DType != dt {
			return fmt.Errorf("%s: output %d is %v, input is %v", op, i, o.DType, dt)
		}
	}
	return nil
}
