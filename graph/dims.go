package graph

import (
	"fmt"

	"github.com/sextant-ml/sextant/tensor"
)

// BroadcastDims returns the NumPy broadcast of several symbolic shapes. Two
// dimensions combine when equal (same size, or same symbol) or when one is 1;
// otherwise, if either is not fixed, the result is that dimension's other
// operand when it is fixed and not 1, else Unknown. Fixed sizes that differ
// and are not 1 are an error.
func BroadcastDims(shapes ...[]Dim) ([]Dim, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]Dim, rank)
	for i := range out {
		out[i] = Fixed(1)
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d.IsFixed() && d.Size == 1:
			case o.IsFixed() && o.Size == 1:
				out[off+i] = d
			case d.IsFixed() && o.IsFixed():
				if d.Size != o.Size {
					return nil, fmt.Errorf("cannot broadcast dimension %d with %d", o.Size, d.Size)
				}
			case d == o && d.Sym != "":
			case d.IsFixed():
				out[off+i] = d // the symbolic one must be 1 or equal to d
			case o.IsFixed():
			default:
				out[off+i] = Unknown()
			}
		}
	}
	return out, nil
}

// ConstInts returns the value of an integer operand when it is known.
func ConstInts(op Operand) ([]int64, bool) {
	if !op.Present || op.Const == nil {
		return nil, false
	}
	v, err := op.Const.Int64s()
	if err != nil {
		return nil, false
	}
	return v, true
}

// NormAxis maps a possibly negative axis into [0, rank).
func NormAxis(axis int64, rank int) (int, error) {
	a, err := tensor.NormalizeAxis(int(axis), rank)
	if err != nil {
		return 0, err
	}
	return a, nil
}

// Same returns the type of an elementwise op's output when it equals its
// input's type (unary ops).
func Same(in Operand) Type {
	t := in.Type
	if t.Known {
		t.Shape = append([]Dim(nil), t.Shape...)
	}
	return t
}
