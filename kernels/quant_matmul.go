package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm8"
	"github.com/sextant-ml/sextant/tensor"
)

// qmmPlan is an 8-bit matrix product specialized to shapes (numpy.matmul
// semantics, as MatMul): batch products of m×k by k×n matrices at the given
// element offsets, each writing m·n outputs.
type qmmPlan struct {
	m, n, k    int
	offA, offB []int
	adt, bdt   tensor.DType
	// simd is set when the product runs on gemm8's SIMD kernel set ks
	// (uint8 A, int8 B), packing B into PackScratch bytes of scratch.
	simd bool
	ks   gemm8.Kernels
}

// PackScratch is the scratch the product needs to pack B (0 without SIMD).
func (p *qmmPlan) PackScratch() int {
	if !p.simd {
		return 0
	}
	return gemm8.GemmScratch(p.k, p.n)
}

// newQMMPlan plans A·B for MatMulInteger and QLinearMatMul and returns the
// output shape.
func newQMMPlan(op string, a, b *tensor.Tensor) (*qmmPlan, tensor.Shape, error) {
	if !quantDType(a.DType) || !quantDType(b.DType) {
		return nil, nil, fmt.Errorf("%s: operands %v and %v: want uint8 or int8", op, a.DType, b.DType)
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 0 || len(bs) == 0 {
		return nil, nil, fmt.Errorf("%s: scalar operand", op)
	}
	if len(as) == 1 {
		as = tensor.Shape{1, as[0]}
	}
	if len(bs) == 1 {
		bs = tensor.Shape{bs[0], 1}
	}
	p := &qmmPlan{m: as[len(as)-2], k: as[len(as)-1], n: bs[len(bs)-1], adt: a.DType, bdt: b.DType, ks: gemm8.Best()}
	p.simd = p.adt == tensor.Uint8 && p.bdt == tensor.Int8 && p.ks.Name() != "purego"
	if bs[len(bs)-2] != p.k {
		return nil, nil, fmt.Errorf("%w: %s inner dimensions %v × %v", tensor.ErrShape, op, a.Shape, b.Shape)
	}
	batchA, batchB := as[:len(as)-2], bs[:len(bs)-2]
	batch, err := tensor.BroadcastShapes(batchA, batchB)
	if err != nil {
		return nil, nil, fmt.Errorf("%s batch axes: %w", op, err)
	}
	want := append(batch.Clone(), p.m, p.n)
	if len(a.Shape) == 1 {
		want = append(want[:len(want)-2], want[len(want)-1])
	}
	if len(b.Shape) == 1 {
		want = want[:len(want)-1]
	}
	p.offA, p.offB = batchOffsets(batchA, batchB, batch, p.m*p.k, p.k*p.n)
	return p, want, nil
}

func quantDType(dt tensor.DType) bool { return dt == tensor.Uint8 || dt == tensor.Int8 }

// product sets c (m×n) to batch i's A·B with zero points za (per tensor or
// one per row of A) and zb (per tensor or one per column of B) subtracted:
// Σ(a−za)(b−zb) = Σab − zb·Σa − za·Σb + K·za·zb. rows and cols are m and n
// int32 of scratch, pack PackScratch bytes.
func (p *qmmPlan) product(i int, a, b, za, zb *tensor.Tensor, c, rows, cols []int32, pack []byte) {
	ar, br := a.Raw[p.offA[i]:], b.Raw[p.offB[i]:]
	if p.simd {
		p.ks.Gemm(c, ar, p.m, p.k, p.n, p.k, tensor.Cast[int8](br), p.n, p.n, pack)
	} else {
		qgemmRaw(p.adt, p.bdt, p.m, p.n, p.k, ar, p.k, br, p.n, c, p.n)
	}
	if isZero(za) && isZero(zb) {
		return
	}
	quantSums(p.adt, ar, p.m, p.k, rows, true)
	quantSums(p.bdt, br, p.k, p.n, cols, false)
	k := int32(p.k)
	for r := 0; r < p.m; r++ {
		zar := zeroPointInt(za, r)
		row := c[r*p.n : (r+1)*p.n]
		for j := range row {
			zbj := zeroPointInt(zb, j)
			row[j] -= zbj*rows[r] + zar*cols[j] - k*zar*zbj
		}
	}
}

// qgemmRaw is qgemm on raw bytes of the given 8-bit types.
func qgemmRaw(adt, bdt tensor.DType, m, n, k int, a []byte, lda int, b []byte, ldb int, c []int32, ldc int) {
	switch {
	case adt == tensor.Uint8 && bdt == tensor.Int8:
		qgemm(m, n, k, a, lda, tensor.Cast[int8](b), ldb, c, ldc)
	case adt == tensor.Uint8:
		qgemm(m, n, k, a, lda, b, ldb, c, ldc)
	case bdt == tensor.Int8:
		qgemm(m, n, k, tensor.Cast[int8](a), lda, tensor.Cast[int8](b), ldb, c, ldc)
	default:
		qgemm(m, n, k, tensor.Cast[int8](a), lda, b, ldb, c, ldc)
	}
}

// quantSums sets dst to the row sums (rows true) or column sums of an r×c
// matrix of 8-bit elements.
func quantSums(dt tensor.DType, x []byte, r, c int, dst []int32, rows bool) {
	switch {
	case rows && dt == tensor.Int8:
		qRowSums(r, c, tensor.Cast[int8](x), c, dst)
	case rows:
		qRowSums(r, c, x, c, dst)
	case dt == tensor.Int8:
		qColSums(r, c, tensor.Cast[int8](x), c, dst)
	default:
		qColSums(r, c, x, c, dst)
	}
}

// isZero reports whether an optional zero point is absent or all zeros.
func isZero(zp *tensor.Tensor) bool {
	if zp == nil {
		return true
	}
	for _, v := range zp.Raw {
		if v != 0 {
			return false
		}
	}
	return true
}

// zeroPointInt returns element i of an optional 8-bit zero point (element 0
// when it has one element), or 0.
func zeroPointInt(zp *tensor.Tensor, i int) int32 {
	if zp == nil {
		return 0
	}
	if len(zp.Raw) == 1 {
		i = 0
	}
	if zp.DType == tensor.Int8 {
		return int32(int8(zp.Raw[i]))
	}
	return int32(zp.Raw[i])
}

// checkQParam checks that an optional per-tensor or per-row/column parameter
// has 1 or n elements and, for a zero point, the operand's type.
func checkQParam(op, what string, p *tensor.Tensor, n int, dt tensor.DType) error {
	if p == nil {
		return nil
	}
	if l := p.Len(); len(p.Shape) > 1 || (l != 1 && l != n) {
		return fmt.Errorf("%s: %w: %s has shape %v, want 1 or %d elements", op, tensor.ErrShape, what, p.Shape, n)
	}
	if dt != tensor.Undefined && p.DType != dt {
		return fmt.Errorf("%s: %s has type %v, want %v", op, what, p.DType, dt)
	}
	return nil
}

// newMatMulInteger is MatMulInteger-10: int32 (A − a_zero_point)·(B −
// b_zero_point), a_zero_point per tensor or per row of A, b_zero_point per
// tensor or per column of B.
func newMatMulInteger(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		p, want, err := newQMMPlan("MatMulInteger", in[0], in[1])
		if err != nil {
			return Step{}, err
		}
		if err := checkOut(out, 0, want); err != nil {
			return Step{}, err
		}
		if err := checkQParam("MatMulInteger", "a_zero_point", inputAt(in, 2), p.m, in[0].DType); err != nil {
			return Step{}, err
		}
		if err := checkQParam("MatMulInteger", "b_zero_point", inputAt(in, 3), p.n, in[1].DType); err != nil {
			return Step{}, err
		}
		var sl scratchLayout
		rowsOff, colsOff, packOff := sl.take(4*p.m), sl.take(4*p.n), sl.take(p.PackScratch())
		return Step{Scratch: sl.size, Run: func(in, out []*tensor.Tensor, s []byte) error {
			c := tensor.Data[int32](out[0])
			rows, cols := section[int32](s, rowsOff, p.m), section[int32](s, colsOff, p.n)
			pack := s[packOff : packOff+p.PackScratch()]
			for i := range p.offA {
				p.product(i, in[0], in[1], inputAt(in, 2), inputAt(in, 3), c[i*p.m*p.n:(i+1)*p.m*p.n], rows, cols, pack)
			}
			return nil
		}}, nil
	}), nil
}

// newQLinearMatMul is QLinearMatMul-10: y = saturate(round((a − a_zp)·(b −
// b_zp) · a_scale·b_scale / y_scale) + y_zp), with a's parameters per
// tensor or per row and b's per tensor or per column. The rescaling is done
// in float64, so it is exact to well below half a unit.
func newQLinearMatMul(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		const op = "QLinearMatMul"
		a, as, az, b, bs, bz, ys, yz := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7]
		p, want, err := newQMMPlan(op, a, b)
		if err != nil {
			return Step{}, err
		}
		if err := checkOut(out, 0, want); err != nil {
			return Step{}, err
		}
		for _, c := range []struct {
			what string
			t    *tensor.Tensor
			n    int
			dt   tensor.DType
		}{{"a_scale", as, p.m, tensor.Float32}, {"a_zero_point", az, p.m, a.DType},
			{"b_scale", bs, p.n, tensor.Float32}, {"b_zero_point", bz, p.n, b.DType},
			{"y_scale", ys, 1, tensor.Float32}, {"y_zero_point", yz, 1, out[0].DType}} {
			if err := checkQParam(op, c.what, c.t, c.n, c.dt); err != nil {
				return Step{}, err
			}
		}
		lo, hi := quantRange(out[0].DType)
		var sl scratchLayout
		accOff, rowsOff, colsOff, packOff := sl.take(4*p.m*p.n), sl.take(4*p.m), sl.take(4*p.n), sl.take(p.PackScratch())
		return Step{Scratch: sl.size, Run: func(in, out []*tensor.Tensor, s []byte) error {
			acc := section[int32](s, accOff, p.m*p.n)
			rows, cols := section[int32](s, rowsOff, p.m), section[int32](s, colsOff, p.n)
			as, bs := tensor.Data[float32](in[1]), tensor.Data[float32](in[4])
			ys := float64(tensor.Data[float32](in[6])[0])
			yz := float64(zeroPointInt(in[7], 0))
			y := out[0].Raw
			pack := s[packOff : packOff+p.PackScratch()]
			for i := range p.offA {
				p.product(i, in[0], in[3], in[2], in[5], acc, rows, cols, pack)
				dst := y[i*p.m*p.n : (i+1)*p.m*p.n]
				for r := 0; r < p.m; r++ {
					sa := float64(as[min(r, len(as)-1)]) / ys
					for j := 0; j < p.n; j++ {
						v := float64(acc[r*p.n+j]) * sa * float64(bs[min(j, len(bs)-1)])
						q := math.RoundToEven(v) + yz
						dst[r*p.n+j] = byte(int32(min(max(q, float64(lo)), float64(hi))))
					}
				}
			}
			return nil
		}}, nil
	}), nil
}
