package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// compareStep picks the comparison row for dt. Float16 and BFloat16 compare
// as float32 (their bit patterns do not order like their values, and +0 must
// equal -0).
func compareStep(op ewOp, dt tensor.DType, bc *Broadcast) (ewBinary, bool) {
	switch dt {
	case tensor.Float32:
		return binaryRun(bc, cmpRow[float32](op)), true
	case tensor.Float64:
		return binaryRun(bc, cmpRow[float64](op)), true
	case tensor.Float16, tensor.BFloat16:
		return halfCompareRun(bc, dt == tensor.BFloat16, cmpRow[float32](op)), true
	case tensor.Int8:
		return binaryRun(bc, cmpRow[int8](op)), true
	case tensor.Int16:
		return binaryRun(bc, cmpRow[int16](op)), true
	case tensor.Int32:
		return binaryRun(bc, cmpRow[int32](op)), true
	case tensor.Int64:
		return binaryRun(bc, cmpRow[int64](op)), true
	case tensor.Uint8:
		return binaryRun(bc, cmpRow[uint8](op)), true
	case tensor.Uint16:
		return binaryRun(bc, cmpRow[uint16](op)), true
	case tensor.Uint32:
		return binaryRun(bc, cmpRow[uint32](op)), true
	case tensor.Uint64:
		return binaryRun(bc, cmpRow[uint64](op)), true
	case tensor.Bool:
		if op == opEq {
			return binaryRun(bc, eqRow[bool]), true
		}
	}
	return ewBinary{}, false
}

func cmpRow[T ewNum](op ewOp) ewRow[bool, T] {
	switch op {
	case opEq:
		return eqRow[T]
	case opLt:
		return ltRow[T]
	case opGt:
		return func(d []bool, a, b []T, sa, sb int) { ltRow(d, b, a, sb, sa) }
	case opLe:
		return leRow[T]
	case opGe:
		return func(d []bool, a, b []T, sa, sb int) { leRow(d, b, a, sb, sa) }
	}
	panic(fmt.Sprintf("kernels: no comparison row for op %d", op))
}

func eqRow[T ewNum | ~bool](d []bool, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] == b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x == b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] == y
		}
	}
}

func ltRow[T ewNum](d []bool, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] < b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x < b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] < y
		}
	}
}

func leRow[T ewNum](d []bool, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] <= b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x <= b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] <= y
		}
	}
}

// logicRow returns the row of And, Or or Xor over bools held as bytes 0/1.
func logicRow(op ewOp) ewRow[uint8, uint8] {
	switch op {
	case opAnd:
		return andRow
	case opOr:
		return orRow
	}
	return xorRow
}

func andRow(d, a, b []uint8, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] & b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x & b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] & y
		}
	}
}

func orRow(d, a, b []uint8, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] | b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x | b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] | y
		}
	}
}

func xorRow(d, a, b []uint8, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = a[i] ^ b[i]
		}
	case sb != 0:
		x, b := a[0], b[:len(d)]
		for i := range d {
			d[i] = x ^ b[i]
		}
	default:
		y, a := b[0], a[:len(d)]
		for i := range d {
			d[i] = a[i] ^ y
		}
	}
}

// newWhere is the factory of Where(condition, X, Y): X where condition is
// true, else Y, broadcasting all three. Elements are moved as opaque words of
// their size, so every dtype (and String) is handled.
func newWhere(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if len(in) != 3 || in[0] == nil || in[1] == nil || in[2] == nil || len(out) != 1 {
			return Step{}, fmt.Errorf("Where: want 3 inputs and 1 output")
		}
		if in[0].DType != tensor.Bool {
			return Step{}, fmt.Errorf("Where: condition has type %v, want bool", in[0].DType)
		}
		dt := in[1].DType
		if err := checkDTypes("Where", dt, in[1:]); err != nil {
			return Step{}, err
		}
		shapes, err := broadcastShape(n, 7, in, out[0])
		if err != nil {
			return Step{}, fmt.Errorf("Where: %w", err)
		}
		if out[0].Len() == 0 {
			return emptyStep, nil
		}
		bc := NewBroadcast(out[0].Shape, shapes...)
		switch {
		case dt == tensor.String:
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
				whereRows(bc, tensor.Data[bool](in[0]), in[1].Strs, in[2].Strs, out[0].Strs)
				return nil
			}}, nil
		case dt.Size() == 1:
			return whereStep[uint8](bc), nil
		case dt.Size() == 2:
			return whereStep[uint16](bc), nil
		case dt.Size() == 4:
			return whereStep[uint32](bc), nil
		case dt.Size() == 8:
			return whereStep[uint64](bc), nil
		}
		return Step{}, unsupportedDType("Where", dt)
	}), nil
}

func whereStep[T tensor.Elem](bc *Broadcast) Step {
	return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error {
		whereRows(bc, tensor.Data[bool](in[0]), tensor.Data[T](in[1]), tensor.Data[T](in[2]), tensor.Data[T](out[0]))
		return nil
	}}
}

func whereRows[T any](bc *Broadcast, c []bool, x, y, d []T) {
	n := bc.Inner()
	sc, sx, sy := bc.RowStep(0), bc.RowStep(1), bc.RowStep(2)
	for r := range bc.Rows {
		whereRow(d[r*n:(r+1)*n], c[bc.Offset(0, r):], x[bc.Offset(1, r):], y[bc.Offset(2, r):], sc, sx, sy)
	}
}

func whereRow[T any](d []T, c []bool, x, y []T, sc, sx, sy int) {
	if sc == 1 && sx == 1 && sy == 1 {
		c, x, y = c[:len(d)], x[:len(d)], y[:len(d)]
		for i := range d {
			if c[i] {
				d[i] = x[i]
			} else {
				d[i] = y[i]
			}
		}
		return
	}
	for i := range d {
		if c[i*sc] {
			d[i] = x[i*sx]
		} else {
			d[i] = y[i*sy]
		}
	}
}
