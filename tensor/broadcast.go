package tensor

import "fmt"

// BroadcastShapes returns the shape that a and b broadcast to under NumPy's
// rules: shapes are aligned at their last axis and each pair of dimensions
// must be equal or contain a 1.
func BroadcastShapes(shapes ...Shape) (Shape, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make(Shape, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := &out[off+i]
			switch {
			case d == *o || d == 1:
			case *o == 1:
				*o = d
			default:
				return nil, fmt.Errorf("%w: cannot broadcast %v", ErrShape, shapes)
			}
		}
	}
	return out, nil
}

// BroadcastStrides returns element strides for reading a tensor of shape s as
// if it had shape out (which s must broadcast to): broadcast axes get stride
// 0, and the result has len(out) entries.
func BroadcastStrides(s, out Shape) []int {
	st := make([]int, len(out))
	acc := 1
	off := len(out) - len(s)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 1 {
			st[off+i] = acc
		}
		acc *= s[i]
	}
	return st
}

// NormalizeAxis maps a possibly negative axis into [0, rank) and fails when it
// is out of range.
func NormalizeAxis(axis, rank int) (int, error) {
	if axis < -rank || axis >= rank {
		return 0, fmt.Errorf("tensor: axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += rank
	}
	return axis, nil
}
