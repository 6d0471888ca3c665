package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/kernels/parallel"
	"github.com/sextant-ml/sextant/tensor"
)

// matMulKernel is MatMul (numpy.matmul semantics, ONNX Operators.md MatMul)
// and FusedMatMul (MatMul, then + Bias along the last axis, then act).
type matMulKernel struct {
	act activation
	// packed is a constant float32 2-D B in GEMM panels; nil otherwise.
	packed   *gemm.PackedB
	repacked bool
	pool     *parallel.Pool // see NewWith; nil for one thread
}

// Repacked reports whether building the kernel packed B itself.
func (km *matMulKernel) Repacked() bool { return km.repacked }

func (km *matMulKernel) setPool(p *parallel.Pool) {
	km.pool = p
	if km.packed != nil {
		km.packed = km.packed.WithPool(p)
	}
}

func newMatMul(n *graph.Node, opset int) (Kernel, error) {
	k := &matMulKernel{}
	k.packed, k.repacked = weightPanels(n.Input(1), false, 1)
	if n.Op == "FusedMatMul" {
		act, err := fusedActivation(n)
		if err != nil {
			return nil, err
		}
		k.act = act
	}
	return k, nil
}

// matMulPlan is a MatMul specialized to shapes: batch products of m×k by
// k×n matrices at the given element offsets.
type matMulPlan struct {
	m, n, k    int
	offA, offB []int
	outStride  int
	act        activation
	bias       bool
	ldb        int
}

func (km *matMulKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	a, b := in[0], in[1]
	if a.DType != b.DType {
		return Step{}, fmt.Errorf("MatMul: operand types differ: %v and %v", a.DType, b.DType)
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 0 || len(bs) == 0 {
		return Step{}, fmt.Errorf("MatMul: scalar operand")
	}
	if len(as) == 1 {
		as = tensor.Shape{1, as[0]}
	}
	bVec := len(bs) == 1
	if bVec {
		bs = tensor.Shape{bs[0], 1}
	}
	p := &matMulPlan{m: as[len(as)-2], k: as[len(as)-1], n: bs[len(bs)-1], act: km.act}
	if bs[len(bs)-2] != p.k {
		return Step{}, fmt.Errorf("%w: MatMul inner dimensions %v × %v", tensor.ErrShape, a.Shape, b.Shape)
	}
	p.ldb = p.n
	batchA, batchB := as[:len(as)-2], bs[:len(bs)-2]
	batch, err := tensor.BroadcastShapes(batchA, batchB)
	if err != nil {
		return Step{}, fmt.Errorf("MatMul batch axes: %w", err)
	}
	want := append(batch.Clone(), p.m, p.n)
	if len(a.Shape) == 1 {
		want = append(want[:len(want)-2], want[len(want)-1])
	}
	if bVec {
		want = want[:len(want)-1]
	}
	if err := checkOut(out, 0, want); err != nil {
		return Step{}, err
	}
	if batchB.NumElements() == 1 {
		// B is shared by every batch: fold A's batch axes into M.
		p.m *= batch.NumElements()
		p.offA, p.offB = []int{0}, []int{0}
	} else {
		p.offA, p.offB = batchOffsets(batchA, batchB, batch, p.m*p.k, p.k*p.n)
	}
	p.outStride = p.m * p.n
	if bias := inputAt(in, 2); bias != nil {
		if len(bias.Shape) != 1 || bias.Shape[0] != p.n || bias.DType != a.DType {
			return Step{}, fmt.Errorf("%w: FusedMatMul bias %v for N=%d", tensor.ErrShape, bias, p.n)
		}
		p.bias = true
	}
	switch a.DType {
	case tensor.Float32:
		return km.matMulF32(p), nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { matMulRun[float64](p, in, out); return nil }}, nil
	case tensor.Int32, tensor.Int64:
		if p.act.kind != actNone || p.bias {
			return Step{}, unsupportedDType("FusedMatMul", a.DType)
		}
		if a.DType == tensor.Int32 {
			return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { matMulRunInt[int32](p, in, out); return nil }}, nil
		}
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { matMulRunInt[int64](p, in, out); return nil }}, nil
	}
	return Step{}, unsupportedDType("MatMul", a.DType)
}

// batchOffsets gives, for each batch of the broadcast batch shape, the
// element offsets of its A and B matrices: batchA and batchB are the
// operands' batch axes (broadcast to batch), sizeA and sizeB the elements
// of one A and one B matrix.
func batchOffsets(batchA, batchB, batch tensor.Shape, sizeA, sizeB int) (offA, offB []int) {
	nb := batch.NumElements()
	sa := tensor.BroadcastStrides(batchA, batch)
	sb := tensor.BroadcastStrides(batchB, batch)
	offA, offB = make([]int, nb), make([]int, nb)
	for i := 0; i < nb; i++ {
		r := i
		for d := len(batch) - 1; d >= 0; d-- {
			x := r % batch[d]
			r /= batch[d]
			offA[i] += x * sa[d]
			offB[i] += x * sb[d]
		}
		offA[i] *= sizeA
		offB[i] *= sizeB
	}
	return offA, offB
}

func matMulRunInt[T gemmNum](p *matMulPlan, in, out []*tensor.Tensor) {
	a, b, c := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	for i := range p.offA {
		gemmGo(false, false, p.m, p.n, p.k, 1, a[p.offA[i]:], p.k, b[p.offB[i]:], p.ldb, 0, c[i*p.outStride:], p.n)
	}
}

func matMulRun[T floatElem](p *matMulPlan, in, out []*tensor.Tensor) {
	a, b, c := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	for i := range p.offA {
		gemmGo(false, false, p.m, p.n, p.k, 1, a[p.offA[i]:], p.k, b[p.offB[i]:], p.ldb, 0, c[i*p.outStride:], p.n)
	}
	c = c[:len(p.offA)*p.outStride]
	if p.bias {
		bias := tensor.Data[T](in[2])[:p.n]
		for r := 0; r < len(c); r += p.n {
			row := c[r : r+p.n]
			for j, v := range bias {
				row[j] += v
			}
		}
	}
	applyAct(p.act, c)
}

// gemmKernel is Gemm (ONNX Operators.md Gemm: Y = alpha·A'·B' + beta·C, C
// broadcast to M×N) and FusedGemm (the same, then act).
type gemmKernel struct {
	alpha, beta    float64
	transA, transB bool
	act            activation
	// packed is a constant float32 B in GEMM panels, α folded in; nil
	// otherwise.
	packed   *gemm.PackedB
	repacked bool
	pool     *parallel.Pool // see NewWith; nil for one thread
}

// Repacked reports whether building the kernel packed B itself.
func (kg *gemmKernel) Repacked() bool { return kg.repacked }

func (kg *gemmKernel) setPool(p *parallel.Pool) {
	kg.pool = p
	if kg.packed != nil {
		kg.packed = kg.packed.WithPool(p)
	}
}

func newGemm(n *graph.Node, opset int) (Kernel, error) {
	k := &gemmKernel{
		alpha:  float64(n.Float("alpha", 1)),
		beta:   float64(n.Float("beta", 1)),
		transA: n.Int("transA", 0) != 0,
		transB: n.Int("transB", 0) != 0,
	}
	if n.Op == "FusedGemm" {
		act, err := fusedActivation(n)
		if err != nil {
			return nil, err
		}
		k.act = act
	}
	k.packed, k.repacked = weightPanels(n.Input(1), k.transB, float32(k.alpha))
	return k, nil
}

type gemmPlan struct {
	m, n, k        int
	transA, transB bool
	lda, ldb       int
	alpha, beta    float64
	act            activation
	// C's element strides along M and N (0 where broadcast); hasC false when
	// C is absent or beta is 0.
	hasC       bool
	cRow, cCol int
}

func (kg *gemmKernel) Prepare(in, out []*tensor.Tensor) (Step, error) {
	a, b := in[0], in[1]
	if a.DType != b.DType || len(a.Shape) != 2 || len(b.Shape) != 2 {
		return Step{}, fmt.Errorf("%w: Gemm operands %v and %v", tensor.ErrShape, a, b)
	}
	p := &gemmPlan{transA: kg.transA, transB: kg.transB, alpha: kg.alpha, beta: kg.beta, act: kg.act}
	p.m, p.k = a.Shape[0], a.Shape[1]
	if p.transA {
		p.m, p.k = p.k, p.m
	}
	kb, nn := b.Shape[0], b.Shape[1]
	if p.transB {
		kb, nn = nn, kb
	}
	if kb != p.k {
		return Step{}, fmt.Errorf("%w: Gemm inner dimensions %v × %v", tensor.ErrShape, a.Shape, b.Shape)
	}
	p.n = nn
	p.lda, p.ldb = a.Shape[1], b.Shape[1]
	if err := checkOut(out, 0, tensor.Shape{p.m, p.n}); err != nil {
		return Step{}, err
	}
	if c := inputAt(in, 2); c != nil && kg.beta != 0 {
		if c.DType != a.DType || len(c.Shape) > 2 {
			return Step{}, fmt.Errorf("%w: Gemm C %v", tensor.ErrShape, c)
		}
		target := tensor.Shape{p.m, p.n}
		if bs, err := tensor.BroadcastShapes(c.Shape, target); err != nil || !bs.Equal(target) {
			return Step{}, fmt.Errorf("%w: Gemm C %v does not broadcast to %v", tensor.ErrShape, c.Shape, target)
		}
		st := tensor.BroadcastStrides(c.Shape, target)
		p.hasC, p.cRow, p.cCol = true, st[0], st[1]
	}
	switch a.DType {
	case tensor.Float32:
		return kg.gemmF32(p), nil
	case tensor.Float64:
		return Step{Run: func(in, out []*tensor.Tensor, _ []byte) error { gemmRun[float64](p, in, out); return nil }}, nil
	}
	return Step{}, unsupportedDType("Gemm", a.DType)
}

func gemmRun[T floatElem](p *gemmPlan, in, out []*tensor.Tensor) {
	a, b, y := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	beta := T(0)
	if p.hasC {
		c := tensor.Data[T](in[2])
		bt := T(p.beta)
		for i := 0; i < p.m; i++ {
			row := y[i*p.n : (i+1)*p.n]
			off := i * p.cRow
			if p.cCol == 0 {
				v := bt * c[off]
				for j := range row {
					row[j] = v
				}
				continue
			}
			cr := c[off : off+p.n]
			for j, v := range cr {
				row[j] = bt * v
			}
		}
		beta = 1
	}
	gemmGo(p.transA, p.transB, p.m, p.n, p.k, T(p.alpha), a, p.lda, b, p.ldb, beta, y, p.n)
	applyAct(p.act, y[:p.m*p.n])
}
