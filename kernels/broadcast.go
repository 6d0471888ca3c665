package kernels

import "github.com/sextant-ml/sextant/tensor"

// Broadcast walks an output shape in rows (runs along the last axis) and
// gives, for each row, the starting element offset of every input read under
// NumPy broadcasting, and each input's stride along the row (0 when the input
// is broadcast along the last axis, 1 otherwise). It is built by Prepare and
// used allocation-free by Run.
type Broadcast struct {
	outer   []int   // output dims except the last, after merging
	inner   int     // length of a row
	strides [][]int // per input: element stride for each outer dim
	rowStep []int   // per input: stride along the row (0 or 1)
	Rows    int
}

// NewBroadcast plans the walk of out for inputs of the given shapes (each must
// broadcast to out).
func NewBroadcast(out tensor.Shape, ins ...tensor.Shape) *Broadcast {
	b := &Broadcast{}
	rank := len(out)
	all := make([][]int, len(ins))
	for i, s := range ins {
		all[i] = tensor.BroadcastStrides(s, out)
	}
	// Merge adjacent axes whose strides are contiguous for every input, so
	// the common cases (same shape, scalar, bias row) become one long row.
	dims := append([]int{}, out...)
	type axis struct {
		n  int
		st []int
	}
	var axes []axis
	for d := 0; d < rank; d++ {
		st := make([]int, len(ins))
		for i := range ins {
			st[i] = all[i][d]
		}
		if dims[d] == 1 {
			continue
		}
		if len(axes) > 0 {
			last := &axes[len(axes)-1]
			ok := true
			for i := range ins {
				if last.st[i] != st[i]*dims[d] {
					ok = false
					break
				}
			}
			if ok {
				last.n *= dims[d]
				copy(last.st, st)
				continue
			}
		}
		axes = append(axes, axis{dims[d], st})
	}
	if len(axes) == 0 {
		axes = []axis{{1, make([]int, len(ins))}}
	}
	lastAx := axes[len(axes)-1]
	b.inner = lastAx.n
	b.rowStep = make([]int, len(ins))
	for i := range ins {
		if lastAx.st[i] != 0 {
			b.rowStep[i] = 1
		}
		if lastAx.st[i] > 1 {
			// Not contiguous along the row: cannot happen for row-major
			// broadcast strides, whose last non-1 axis has stride 1.
			panic("kernels: non-unit row stride")
		}
	}
	b.strides = make([][]int, len(ins))
	for _, a := range axes[:len(axes)-1] {
		b.outer = append(b.outer, a.n)
	}
	for i := range ins {
		for _, a := range axes[:len(axes)-1] {
			b.strides[i] = append(b.strides[i], a.st[i])
		}
	}
	b.Rows = 1
	for _, n := range b.outer {
		b.Rows *= n
	}
	return b
}

// Inner is the length of each row.
func (b *Broadcast) Inner() int { return b.inner }

// RowStep is input i's stride along a row: 1, or 0 when it is broadcast.
func (b *Broadcast) RowStep(i int) int { return b.rowStep[i] }

// Offset returns input i's element offset at the start of row r.
func (b *Broadcast) Offset(i, r int) int {
	off := 0
	st := b.strides[i]
	for d := len(b.outer) - 1; d >= 0; d-- {
		n := b.outer[d]
		off += (r % n) * st[d]
		r /= n
	}
	return off
}
