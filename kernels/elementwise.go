package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Elementwise kernels
//
// Binary and variadic operators plan a Broadcast in Prepare and, in Run, call
// one row function per output row: the row function is chosen per dtype
// (and per op) once, in Prepare, and its loops are instantiated per element
// type by Go generics, so the inner loops hold no calls. Each row function
// has three loops: both inputs contiguous, A broadcast (a scalar for the
// row) and B broadcast. NewBroadcast merges contiguous axes, so same-shape
// and scalar operands are one long row and a bias vector is one row per
// outer index.
//
// Float16 and BFloat16 are widened to float32 in chunks of ewChunk elements
// held in the step's scratch memory, computed by the float32 row function,
// and rounded back to nearest even.
//
// Numerics follow ONNX, which follows NumPy: Max and Min propagate NaN (as
// numpy.maximum), integer Div truncates toward zero (as C; test_div_uint8)
// and gives 0 for a zero divisor (as NumPy) rather than trapping, Clip is
// min(max(x, lo), hi) so lo > hi gives hi.

func addElementwise(add func(string, Factory)) {
	for op, code := range map[string]ewOp{
		"Add": opAdd, "Sub": opSub, "Mul": opMul, "Div": opDiv,
		"Equal": opEq, "Less": opLt, "Greater": opGt, "LessOrEqual": opLe, "GreaterOrEqual": opGe,
		"And": opAnd, "Or": opOr, "Xor": opXor,
	} {
		add(op, newBinary(code))
	}
	add("Max", newVariadic(opMax))
	add("Min", newVariadic(opMin))
	add("Pow", newPow)
	add("Where", newWhere)
	add("Clip", newClip)
	add("Not", newNot)
	add("Neg", newNeg)
	add("Abs", newAbs)
	add("Relu", newRelu)
	addActivations(add)
	add("Cast", newCast)
	add("CastLike", newCastLike)
}

// ewOp names a binary operator.
type ewOp uint8

const (
	opAdd ewOp = iota
	opSub
	opMul
	opDiv
	opMax
	opMin
	opEq
	opLt
	opGt
	opLe
	opGe
	opAnd
	opOr
	opXor
)

// ewChunk is the number of Float16/BFloat16 elements widened at a time.
const ewChunk = 512

// Constraints for the element types the loops are instantiated with.
type (
	ewInt interface {
		~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
	}
	ewFloat  interface{ ~float32 | ~float64 }
	ewNum    interface{ ewInt | ewFloat }
	ewSigned interface {
		~int8 | ~int16 | ~int32 | ~int64 | ~float32 | ~float64
	}
)

// ewRow computes one output row from two input rows; sa and sb are the
// inputs' strides along the row (0: the input's first element is used for
// the whole row). At least one of them is 1 unless the row has one element,
// which NewBroadcast guarantees for two inputs.
type ewRow[D, T any] func(d []D, a, b []T, sa, sb int)

// isHalf reports whether dt is stored as 16-bit patterns computed through
// float32.
func isHalf(dt tensor.DType) bool { return dt == tensor.Float16 || dt == tensor.BFloat16 }

// broadcastShape checks that out has the shape in broadcast to (with the
// pre-opset-7 rule for B when legacy is set) and returns the input shapes to
// plan with.
func broadcastShape(n *graph.Node, opset int, in []*tensor.Tensor, out *tensor.Tensor) ([]tensor.Shape, error) {
	shapes := make([]tensor.Shape, len(in))
	for i, t := range in {
		shapes[i] = t.Shape
	}
	if len(in) == 2 && opset < 7 {
		b, err := legacyShape(n, opset, in[0].Shape, in[1].Shape)
		if err != nil {
			return nil, err
		}
		shapes[1] = b
	}
	want, err := tensor.BroadcastShapes(shapes...)
	if err != nil {
		return nil, err
	}
	if !want.Equal(out.Shape) {
		return nil, fmt.Errorf("%w: output shape %v, inputs broadcast to %v", tensor.ErrShape, out.Shape, want)
	}
	return shapes, nil
}

// legacyShape applies graph.LegacyBroadcastDims to concrete shapes.
func legacyShape(n *graph.Node, opset int, a, b tensor.Shape) (tensor.Shape, error) {
	dims := func(s tensor.Shape) []graph.Dim {
		d := make([]graph.Dim, len(s))
		for i, v := range s {
			d[i] = graph.Fixed(int64(v))
		}
		return d
	}
	bd, err := graph.LegacyBroadcastDims(n, opset, dims(a), dims(b))
	if err != nil {
		return nil, err
	}
	out := make(tensor.Shape, len(bd))
	for i, d := range bd {
		out[i] = int(d.Size)
	}
	return out, nil
}

// ewBin computes d from a and b; d may be a (in place). scratch holds the
// ewBinary's Scratch bytes.
type ewBin func(a, b, d *tensor.Tensor, scratch []byte)

// ewBinary is a binary operator specialized to dtypes and shapes.
type ewBinary struct {
	run     ewBin
	scratch int
}

// step adapts b to the Step contract.
func (b ewBinary) step() Step {
	return Step{Scratch: b.scratch, Run: func(in, out []*tensor.Tensor, sc []byte) error {
		b.run(in[0], in[1], out[0], sc)
		return nil
	}}
}

// rowOffsets tabulates the inputs' offsets at the start of each row, two
// ints per row, so Run avoids Broadcast.Offset's divisions. Beyond
// maxOffsetRows rows (short rows of a large tensor) the table would rival
// the data in size and Run uses Offset instead; rowOffsets returns nil.
func rowOffsets(bc *Broadcast) []int {
	const maxOffsetRows = 1 << 14
	if bc.Rows > maxOffsetRows {
		return nil
	}
	off := make([]int, 2*bc.Rows)
	for r := range bc.Rows {
		off[2*r], off[2*r+1] = bc.Offset(0, r), bc.Offset(1, r)
	}
	return off
}

// binaryRun runs row over every row of the broadcast.
func binaryRun[D, T tensor.Elem](bc *Broadcast, row ewRow[D, T]) ewBinary {
	n, sa, sb := bc.Inner(), bc.RowStep(0), bc.RowStep(1)
	off := rowOffsets(bc)
	return ewBinary{run: func(at, bt, dt *tensor.Tensor, _ []byte) {
		a, b, d := tensor.Data[T](at), tensor.Data[T](bt), tensor.Data[D](dt)
		switch {
		case bc.Rows == 1:
			row(d[:n], a, b, sa, sb)
		case off != nil:
			for r := range bc.Rows {
				row(d[r*n:(r+1)*n], a[off[2*r]:], b[off[2*r+1]:], sa, sb)
			}
		default:
			for r := range bc.Rows {
				row(d[r*n:(r+1)*n], a[bc.Offset(0, r):], b[bc.Offset(1, r):], sa, sb)
			}
		}
	}}
}

// halfBinaryRun is binaryRun for Float16/BFloat16: it widens chunks of each
// row to float32 in scratch, calls row, and rounds the result back.
func halfBinaryRun(bc *Broadcast, bf bool, row ewRow[float32, float32]) ewBinary {
	n, sa, sb := bc.Inner(), bc.RowStep(0), bc.RowStep(1)
	run := func(at, bt, dt *tensor.Tensor, scratch []byte) {
		a, b, d := tensor.Data[uint16](at), tensor.Data[uint16](bt), tensor.Data[uint16](dt)
		f := tensor.Cast[float32](scratch)
		fa, fb, fd := f[:ewChunk], f[ewChunk:2*ewChunk], f[2*ewChunk:3*ewChunk]
		for r := range bc.Rows {
			ar, br := a[bc.Offset(0, r):], b[bc.Offset(1, r):]
			for k := 0; k < n; k += ewChunk {
				m := min(ewChunk, n-k)
				row(fd[:m], widenRow(fa, ar, k, m, sa, bf), widenRow(fb, br, k, m, sb, bf), sa, sb)
				narrowHalf(d[r*n+k:r*n+k+m], fd[:m], bf)
			}
		}
	}
	return ewBinary{scratch: 3 * ewChunk * 4, run: run}
}

// halfCompareRun is halfBinaryRun for operators with a bool output.
func halfCompareRun(bc *Broadcast, bf bool, row ewRow[bool, float32]) ewBinary {
	n, sa, sb := bc.Inner(), bc.RowStep(0), bc.RowStep(1)
	run := func(at, bt, dt *tensor.Tensor, scratch []byte) {
		a, b, d := tensor.Data[uint16](at), tensor.Data[uint16](bt), tensor.Data[bool](dt)
		f := tensor.Cast[float32](scratch)
		fa, fb := f[:ewChunk], f[ewChunk:2*ewChunk]
		for r := range bc.Rows {
			ar, br := a[bc.Offset(0, r):], b[bc.Offset(1, r):]
			for k := 0; k < n; k += ewChunk {
				m := min(ewChunk, n-k)
				row(d[r*n+k:r*n+k+m], widenRow(fa, ar, k, m, sa, bf), widenRow(fb, br, k, m, sb, bf), sa, sb)
			}
		}
	}
	return ewBinary{scratch: 2 * ewChunk * 4, run: run}
}

// widenRow widens elements [k, k+m) of a row with stride s (0 or 1) into
// buf and returns the widened part (one element when s is 0).
func widenRow(buf []float32, row []uint16, k, m, s int, bf bool) []float32 {
	if s == 0 {
		m, k = 1, 0
	}
	widenHalf(buf[:m], row[k:k+m], bf)
	return buf[:m]
}

// widenHalf converts Float16 (or, with bf, BFloat16) bit patterns to float32.
func widenHalf(d []float32, s []uint16, bf bool) {
	s = s[:len(d)]
	if bf {
		for i := range d {
			d[i] = tensor.BFloat16Bits(s[i]).Float32()
		}
		return
	}
	for i := range d {
		d[i] = tensor.Float16Bits(s[i]).Float32()
	}
}

// halfToFloat32 widens one Float16 (or, with bf, BFloat16) value.
func halfToFloat32(v uint16, bf bool) float32 {
	if bf {
		return tensor.BFloat16Bits(v).Float32()
	}
	return tensor.Float16Bits(v).Float32()
}

// narrowHalf rounds float32 values to Float16 (or, with bf, BFloat16), to
// nearest even.
func narrowHalf(d []uint16, s []float32, bf bool) {
	s = s[:len(d)]
	if bf {
		for i := range d {
			d[i] = uint16(tensor.BFloat16FromFloat32(s[i]))
		}
		return
	}
	for i := range d {
		d[i] = uint16(tensor.Float16FromFloat32(s[i]))
	}
}

// checkDTypes fails unless every present input has type dt.
func checkDTypes(op string, dt tensor.DType, in []*tensor.Tensor) error {
	for i, t := range in {
		if t != nil && t.DType != dt {
			return fmt.Errorf("%s: input %d has type %v, want %v", op, i, t.DType, dt)
		}
	}
	return nil
}
