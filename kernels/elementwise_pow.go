package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Pow(X, Y): the output has X's type; since opset 12 Y may have any numeric
// type. Same-typed float32 and float64 use a direct row (with x·x for a
// scalar exponent of 2, exactly what pow gives). Other pairs go through
// float64 chunks in scratch, as NumPy does for the ONNX reference outputs
// (test_pow_types_int32_float32 truncates 1.0**1.5-style float results to
// the integer type), except integer**integer, which is exact integer
// arithmetic in int64.

func newPow(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if len(in) != 2 || in[0] == nil || in[1] == nil || len(out) != 1 {
			return Step{}, fmt.Errorf("Pow: want 2 inputs and 1 output")
		}
		bt, et := in[0].DType, in[1].DType
		if out[0].DType != bt {
			return Step{}, fmt.Errorf("Pow: output type %v, base %v", out[0].DType, bt)
		}
		if !(bt.IsFloat() || bt.IsInt()) || !(et.IsFloat() || et.IsInt()) {
			return Step{}, fmt.Errorf("Pow: unsupported types %v ** %v", bt, et)
		}
		shapes, err := broadcastShape(n, opset, in, out[0])
		if err != nil {
			return Step{}, fmt.Errorf("Pow: %w", err)
		}
		if out[0].Len() == 0 {
			return emptyStep, nil
		}
		bc := NewBroadcast(out[0].Shape, shapes...)
		switch {
		case bt == tensor.Float32 && et == tensor.Float32:
			return binaryRun(bc, powRow[float32]).step(), nil
		case bt == tensor.Float64 && et == tensor.Float64:
			return binaryRun(bc, powRow[float64]).step(), nil
		}
		return powMixedStep(bc, bt.IsInt() && et.IsInt()), nil
	}), nil
}

func powRow[T ewFloat](d, a, b []T, sa, sb int) {
	switch {
	case sa != 0 && sb != 0:
		a, b = a[:len(d)], b[:len(d)]
		for i := range d {
			d[i] = T(math.Pow(float64(a[i]), float64(b[i])))
		}
	case sb != 0:
		x, b := float64(a[0]), b[:len(d)]
		for i := range d {
			d[i] = T(math.Pow(x, float64(b[i])))
		}
	default:
		y, a := b[0], a[:len(d)]
		if y == 2 {
			for i, x := range a {
				d[i] = x * x
			}
			return
		}
		for i, x := range a {
			d[i] = T(math.Pow(float64(x), float64(y)))
		}
	}
}

// powMixedStep computes chunk by chunk: both operands are converted to
// float64 (or, for integers, int64) in scratch, raised, and stored in the
// output's type.
func powMixedStep(bc *Broadcast, ints bool) Step {
	n, sa, sb := bc.Inner(), bc.RowStep(0), bc.RowStep(1)
	run := func(in, out []*tensor.Tensor, scratch []byte) error {
		w := tensor.Cast[uint64](scratch)
		ab, bb, db := w[:ewChunk], w[ewChunk:2*ewChunk], w[2*ewChunk:3*ewChunk]
		for r := range bc.Rows {
			oa, ob := bc.Offset(0, r), bc.Offset(1, r)
			for k := 0; k < n; k += ewChunk {
				m := min(ewChunk, n-k)
				ma, mb := max(m*sa, 1), max(m*sb, 1)
				o := r*n + k
				if ints {
					a, b, d := asInt64(ab[:ma]), asInt64(bb[:mb]), asInt64(db[:m])
					loadChunk(a, in[0], oa+k*sa)
					loadChunk(b, in[1], ob+k*sb)
					ipowChunk(d, a, b, sa, sb)
					storeChunk(out[0], o, d)
				} else {
					a, b, d := asFloat64(ab[:ma]), asFloat64(bb[:mb]), asFloat64(db[:m])
					loadChunk(a, in[0], oa+k*sa)
					loadChunk(b, in[1], ob+k*sb)
					fpowChunk(d, a, b, sa, sb)
					storeChunk(out[0], o, d)
				}
			}
		}
		return nil
	}
	return Step{Scratch: 3 * ewChunk * 8, Run: run}
}

func asInt64(w []uint64) []int64     { return tensor.Cast[int64](tensor.Bytes(w)) }
func asFloat64(w []uint64) []float64 { return tensor.Cast[float64](tensor.Bytes(w)) }

func fpowChunk(d, a, b []float64, sa, sb int) {
	for i := range d {
		d[i] = math.Pow(a[i*sa], b[i*sb])
	}
}

func ipowChunk(d, a, b []int64, sa, sb int) {
	for i := range d {
		d[i] = ipow(a[i*sa], b[i*sb])
	}
}

// ipow is x**y in wrapping int64 arithmetic by squaring. A negative
// exponent gives the truncated reciprocal: 1 for x = 1, ±1 for x = -1, and
// 0 otherwise (including x = 0, where NumPy raises).
func ipow(x, y int64) int64 {
	if y < 0 {
		switch x {
		case 1:
			return 1
		case -1:
			if y&1 == 0 {
				return 1
			}
			return -1
		}
		return 0
	}
	r := int64(1)
	for y > 0 {
		if y&1 == 1 {
			r *= x
		}
		x *= x
		y >>= 1
	}
	return r
}

// loadChunk converts len(d) elements of t from offset off into d.
func loadChunk[D int64 | float64](d []D, t *tensor.Tensor, off int) {
	m := len(d)
	switch t.DType {
	case tensor.Float32:
		convertSlice(d, tensor.Data[float32](t)[off:off+m])
	case tensor.Float64:
		convertSlice(d, tensor.Data[float64](t)[off:off+m])
	case tensor.Int8:
		convertSlice(d, tensor.Data[int8](t)[off:off+m])
	case tensor.Int16:
		convertSlice(d, tensor.Data[int16](t)[off:off+m])
	case tensor.Int32:
		convertSlice(d, tensor.Data[int32](t)[off:off+m])
	case tensor.Int64:
		convertSlice(d, tensor.Data[int64](t)[off:off+m])
	case tensor.Uint8:
		convertSlice(d, t.Raw[off:off+m])
	case tensor.Uint16:
		convertSlice(d, tensor.Data[uint16](t)[off:off+m])
	case tensor.Uint32:
		convertSlice(d, tensor.Data[uint32](t)[off:off+m])
	case tensor.Uint64:
		convertSlice(d, tensor.Data[uint64](t)[off:off+m])
	case tensor.Float16, tensor.BFloat16:
		convertHalf(d, tensor.Data[uint16](t)[off:off+m], t.DType == tensor.BFloat16)
	}
}

// storeChunk converts s into t's elements from offset off, as a C cast (a
// float to an integer truncates toward zero).
func storeChunk[S int64 | float64](t *tensor.Tensor, off int, s []S) {
	m := len(s)
	switch t.DType {
	case tensor.Float32:
		convertSlice(tensor.Data[float32](t)[off:off+m], s)
	case tensor.Float64:
		convertSlice(tensor.Data[float64](t)[off:off+m], s)
	case tensor.Int8:
		convertSlice(tensor.Data[int8](t)[off:off+m], s)
	case tensor.Int16:
		convertSlice(tensor.Data[int16](t)[off:off+m], s)
	case tensor.Int32:
		convertSlice(tensor.Data[int32](t)[off:off+m], s)
	case tensor.Int64:
		convertSlice(tensor.Data[int64](t)[off:off+m], s)
	case tensor.Uint8:
		convertSlice(t.Raw[off:off+m], s)
	case tensor.Uint16:
		convertSlice(tensor.Data[uint16](t)[off:off+m], s)
	case tensor.Uint32:
		convertSlice(tensor.Data[uint32](t)[off:off+m], s)
	case tensor.Uint64:
		convertSlice(tensor.Data[uint64](t)[off:off+m], s)
	case tensor.Float16, tensor.BFloat16:
		halfFrom(tensor.Data[uint16](t)[off:off+m], s, t.DType == tensor.BFloat16)
	}
}
