package kernels

import (
	"fmt"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// newDPGRUNorms is (dY, dY_h, X, W, R, B, initial_h) → per-example squared
// norms of a GRU's W, R and B gradients ([N] each, N = X's batch axis 1).
// It reruns GRUGrad's batched float32 path without forming the weight
// gradients, which leaves in scratch, for every step t and example i, the
// gate pre-activation gradients dAₜᵢ (input side) and dRecₜᵢ (recurrent
// side) and the previous state Hₜ₋₁,ᵢ. Example i's gradients are then
// dWᵢ = Σₜ dAₜᵢᵀ·xₜᵢ, dRᵢ = Σₜ dRecₜᵢᵀ·Hₜ₋₁,ᵢ and dBᵢ = Σₜ (dAₜᵢ, dRecₜᵢ),
// sums over time of outer products like a sequence MatMul's, whose squared
// norms come from the ghost norm Σₜₛ(xₜ·xₛ)(dAₜ·dAₛ) or, when cheaper, the
// materialized [K, 3H] sum (Li et al. 2022, §4; see DPLinearNorms). Float32
// with linear_before_reset = 1 (torch's GRU) only.
func newDPGRUNorms(n *graph.Node, opset int) (Kernel, error) {
	lbr := n.Int("linear_before_reset", 0) != 0
	hidden := int(n.Int("hidden_size", 0))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		if len(in) < 5 || in[2] == nil || in[3] == nil || in[4] == nil {
			return Step{}, fmt.Errorf("DPGRUNorms needs X, W and R (inputs 2 to 4)")
		}
		x, w, r := in[2], in[3], in[4]
		if x.DType != tensor.Float32 || !lbr {
			return Step{}, fmt.Errorf("DPGRUNorms: only float32 GRUs with linear_before_reset = 1 (got %v, %v)", x.DType, lbr)
		}
		if len(x.Shape) != 3 || len(w.Shape) != 3 || len(r.Shape) != 3 || w.Shape[0] != 1 {
			return Step{}, fmt.Errorf("%w: DPGRUNorms supports one direction, layout 0: X %v, W %v", tensor.ErrShape, x, w)
		}
		seq, batch, ni, h := x.Shape[0], x.Shape[1], x.Shape[2], hidden
		if w.Shape[1] != 3*h || w.Shape[2] != ni || r.Shape[1] != 3*h || r.Shape[2] != h {
			return Step{}, fmt.Errorf("%w: DPGRUNorms W %v, R %v for hidden size %d", tensor.ErrShape, w, r, h)
		}
		for i, want := range []tensor.Shape{{seq, 1, batch, h}, {1, batch, h}, 5: {1, 6 * h}, 6: {1, batch, h}} {
			if t := inputAt(in, i); want != nil && t != nil && (!t.Shape.Equal(want) || t.DType != tensor.Float32) {
				return Step{}, fmt.Errorf("%w: DPGRUNorms operand %d is %v, want float32%v", tensor.ErrShape, i, t, want)
			}
		}
		for i := range out {
			if err := checkOut(out, i, tensor.Shape{batch}); err != nil {
				return Step{}, err
			}
		}
		p := &gruGradPlan{seq: seq, batch: batch, in: ni, h: h, lbr: true}
		f, inner := newGRUGradF32Plan(p)
		d := &dpGRUPlan{p: p, f: f}
		var l scratchLayout
		d.offInner = l.take(inner)
		d.ghostW = seq*(ni+3*h) <= ni*3*h
		d.ghostR = seq*(h+3*h) <= h*3*h
		d.offAcc = l.take(8 * max(6*h, ni*3*h, h*3*h))
		return Step{Scratch: l.size, Run: func(in, out []*tensor.Tensor, s []byte) error { dpGRUNormsRun(d, in, out, s); return nil }}, nil
	}), nil
}

type dpGRUPlan struct {
	p                *gruGradPlan
	f                *gruGradF32Plan
	offInner, offAcc int
	ghostW, ghostR   bool
}

// seqNorm returns ‖Σₜ aₜᵀ·dₜ‖² for example i, whose step-t rows are
// a[(t·stride+i)·k:][:k] and d[(t·stride+i)·m:][:m]: by the ghost norm, or
// by accumulating the k×m sum in mat when mat is not nil.
func seqNorm(a []float32, k int, d []float32, m int, seq, stride, i int, mat []float64) float64 {
	row := func(x []float32, w, t int) []float32 { o := (t*stride + i) * w; return x[o : o+w] }
	var s float64
	if mat == nil {
		for t := 0; t < seq; t++ {
			at, dt := row(a, k, t), row(d, m, t)
			s += dpDot(at, at) * dpDot(dt, dt)
			for u := t + 1; u < seq; u++ {
				s += 2 * dpDot(at, row(a, k, u)) * dpDot(dt, row(d, m, u))
			}
		}
		return s
	}
	mat = mat[:k*m]
	clear(mat)
	for t := 0; t < seq; t++ {
		dt := row(d, m, t)
		for x, av := range row(a, k, t) {
			mr, f := mat[x*m:(x+1)*m], float64(av)
			for j, dv := range dt {
				mr[j] += f * float64(dv)
			}
		}
	}
	for _, v := range mat {
		s += v * v
	}
	return s
}

func dpGRUNormsRun(d *dpGRUPlan, in, out []*tensor.Tensor, scratch []byte) {
	p, f := d.p, d.f
	seq, b, ni, h := p.seq, p.batch, p.in, p.h
	h3 := 3 * h
	inner := scratch[d.offInner:]
	data := func(i int) []float32 {
		if t := inputAt(in, i); t != nil {
			return tensor.Data[float32](t)
		}
		return nil
	}
	a := gruF32Args{dy: data(0), dyh: data(1), x: data(2), w: data(3), r: data(4), bias: data(5), h0: data(6)}
	gruGradCoreF32(p, f, &a, inner) // no outputs asked: gate gradients only
	sb := seq * b
	dIn := section[float32](inner, f.offDIn, sb*h3)
	dRec := section[float32](inner, f.offDRec, sb*h3)
	hs := section[float32](inner, f.offH, sb*h) // H₀ … H_{seq−1}
	acc := section[float64](scratch, d.offAcc, max(6*h, ni*h3, h*h3))
	var matW, matR []float64
	if !d.ghostW {
		matW = acc
	}
	if !d.ghostR {
		matR = acc
	}
	for i := 0; i < b; i++ {
		if out[0] != nil {
			tensor.Data[float32](out[0])[i] = float32(seqNorm(a.x, ni, dIn, h3, seq, b, i, matW))
		}
		if len(out) > 1 && out[1] != nil {
			tensor.Data[float32](out[1])[i] = float32(seqNorm(hs, h, dRec, h3, seq, b, i, matR))
		}
		if len(out) > 2 && out[2] != nil {
			bias := acc[:6*h]
			clear(bias)
			for t := 0; t < seq; t++ {
				o := (t*b + i) * h3
				for j := 0; j < h3; j++ {
					bias[j] += float64(dIn[o+j])
					bias[h3+j] += float64(dRec[o+j])
				}
			}
			var s float64
			for _, v := range bias {
				s += v * v
			}
			tensor.Data[float32](out[2])[i] = float32(s)
		}
	}
}
