package kernels

import (
	"github.com/sextant-ml/sextant/kernels/gemm"
	"github.com/sextant-ml/sextant/tensor"
)

// GRUGrad's float32 path for linear_before_reset = 1 (torch's GRU): the
// same equations as gruGradRun, restructured so the matrix work runs on
// the SIMD GEMM with the batch as the row dimension: one product for all
// steps' input projections X·Wᵀ, per step H₋₁·Rᵀ forward and dA·R
// backward, and after the loop single products for dW = dAᵀ·X,
// dR = dArecᵀ·H₋₁ and dX = dA·W over all steps at once. Gates and states
// are kept in float32 scratch (as PyTorch keeps them), the activations
// computed by the vector kernels (vecMath); sums of many terms
// (the weight gradients) are accumulated by the GEMM in float32.

// gruGradF32Plan lays out the fast path's float32 scratch.
type gruGradF32Plan struct {
	offXW, offH, offZ, offR, offN, offQ, offHR, offDh, offDp, offDRec, offDIn, offG int
	gemmLen                                                                         int
}

func newGRUGradF32Plan(p *gruGradPlan) (*gruGradF32Plan, int) {
	sb, h, in := p.seq*p.batch, p.h, p.in
	var l scratchLayout
	f := &gruGradF32Plan{}
	f.offXW = l.take(sb * 3 * h * 4)
	f.offH = l.take((p.seq + 1) * p.batch * h * 4)
	f.offZ = l.take(sb * h * 4)
	f.offR = l.take(sb * h * 4)
	f.offN = l.take(sb * h * 4)
	f.offQ = l.take(sb * h * 4)
	f.offHR = l.take(p.batch * 3 * h * 4)
	f.offDh = l.take(p.batch * h * 4)
	f.offDp = l.take(p.batch * h * 4)
	f.offDRec = l.take(sb * 3 * h * 4)
	f.offDIn = l.take(sb * 3 * h * 4)
	f.gemmLen = max(gemm.ScratchSize(sb, in, 3*h), gemm.ScratchSize(p.batch, h, 3*h), gemm.ScratchSize(p.batch, 3*h, h),
		gemm.ScratchSize(3*h, sb, h), gemm.ScratchSize(3*h, sb, in), gemm.ScratchSize(sb, 3*h, in))
	f.offG = l.take(f.gemmLen*4 + 64)
	return f, l.size
}

// gruF32Args are GRUGrad's operands as float32 slices; nil for an absent
// input or an output not wanted.
type gruF32Args struct {
	dy, dyh, x, w, r, bias, h0 []float32
	dx, dw, dr, db, dh0        []float32
}

func gruGradRunF32(p *gruGradPlan, f *gruGradF32Plan, in, out []*tensor.Tensor, scratch []byte) {
	data := func(ts []*tensor.Tensor, i int) []float32 {
		if i < len(ts) && ts[i] != nil {
			return tensor.Data[float32](ts[i])
		}
		return nil
	}
	a := gruF32Args{dy: data(in, 0), dyh: data(in, 1), x: data(in, 2), w: data(in, 3), r: data(in, 4), bias: data(in, 5), h0: data(in, 6),
		dx: data(out, 0), dw: data(out, 1), dr: data(out, 2), db: data(out, 3), dh0: data(out, 4)}
	gruGradCoreF32(p, f, &a, scratch)
}

// gruGradCoreF32 computes the gradients a asks for.
func gruGradCoreF32(p *gruGradPlan, f *gruGradF32Plan, a *gruF32Args, scratch []byte) {
	ks := gemm.Best()
	h, b, sb, ni := p.h, p.batch, p.seq*p.batch, p.in
	h3 := 3 * h
	x, w, r := a.x, a.w, a.r
	var wb, rb []float32
	if a.bias != nil {
		wb, rb = a.bias[:h3], a.bias[h3:]
	}
	xw := section[float32](scratch, f.offXW, sb*h3)
	hs := section[float32](scratch, f.offH, (p.seq+1)*b*h)
	zs := section[float32](scratch, f.offZ, sb*h)
	rs := section[float32](scratch, f.offR, sb*h)
	ns := section[float32](scratch, f.offN, sb*h)
	qs := section[float32](scratch, f.offQ, sb*h)
	hr := section[float32](scratch, f.offHR, b*h3)
	g := section[float32](scratch, f.offG, f.gemmLen+16)
	if a.h0 != nil {
		copy(hs[:b*h], a.h0)
	} else {
		clear(hs[:b*h])
	}
	// Forward: XW = X·Wᵀ + Wb for every step at once, then the recurrence.
	ks.Gemm(xw, x, w, sb, ni, h3, ni, ni, h3, false, true, wb, gemm.None, 0, g)
	for t := 0; t < p.seq; t++ {
		prev := hs[t*b*h : (t+1)*b*h]
		ks.Gemm(hr, prev, r, b, h, h3, h, h, h3, false, true, rb, gemm.None, 0, g)
		for bi := 0; bi < b; bi++ {
			o, xo := (t*b+bi)*h, (t*b+bi)*h3
			xr, hrr := xw[xo:xo+h3], hr[bi*h3:(bi+1)*h3]
			z, rv, q, n := zs[o:o+h], rs[o:o+h], qs[o:o+h], ns[o:o+h]
			add32(z, xr[:h], hrr[:h])
			add32(rv, xr[h:2*h], hrr[h:2*h])
			vecMath.Sigmoid(z, z)
			vecMath.Sigmoid(rv, rv)
			copy(q, hrr[2*h:]) // H₋₁·Rhᵀ + Rbh
			for j := range n {
				n[j] = xr[2*h+j] + rv[j]*q[j]
			}
			vecMath.Tanh(n, n)
			pr := prev[bi*h : (bi+1)*h]
			next := hs[(t+1)*b*h+bi*h : (t+1)*b*h+(bi+1)*h]
			for j := range next {
				next[j] = (1-z[j])*n[j] + z[j]*pr[j]
			}
		}
	}
	// Backward through time: per step the gate gradients, and
	// dH₋₁ = dH⊙z + [daz, dar, dq]·R.
	dh := section[float32](scratch, f.offDh, b*h)
	dp := section[float32](scratch, f.offDp, b*h)
	dRec := section[float32](scratch, f.offDRec, sb*h3)
	dIn := section[float32](scratch, f.offDIn, sb*h3)
	clear(dh)
	if a.dyh != nil {
		copy(dh, a.dyh)
	}
	for t := p.seq - 1; t >= 0; t-- {
		if a.dy != nil {
			dy := a.dy[t*b*h : (t+1)*b*h]
			for i, v := range dy {
				dh[i] += v
			}
		}
		prev := hs[t*b*h : (t+1)*b*h]
		for bi := 0; bi < b; bi++ {
			o, ro := (t*b+bi)*h, (t*b+bi)*h3
			rec, inp := dRec[ro:ro+h3], dIn[ro:ro+h3]
			for j := 0; j < h; j++ {
				z, n, rv, q := zs[o+j], ns[o+j], rs[o+j], qs[o+j]
				d := dh[bi*h+j]
				daz := d * (prev[bi*h+j] - n) * z * (1 - z)
				dan := d * (1 - z) * (1 - n*n)
				dar := dan * q * rv * (1 - rv)
				rec[j], rec[h+j], rec[2*h+j] = daz, dar, dan*rv
				inp[j], inp[h+j], inp[2*h+j] = daz, dar, dan
			}
		}
		ks.Gemm(dp, dRec[t*b*h3:(t+1)*b*h3], r, b, h3, h, h3, h, h, false, false, nil, gemm.None, 0, g)
		for bi := 0; bi < b; bi++ {
			for j := 0; j < h; j++ {
				dp[bi*h+j] += dh[bi*h+j] * zs[(t*b+bi)*h+j]
			}
		}
		dh, dp = dp, dh
	}
	// Weight, bias and input gradients over all steps at once.
	if a.dw != nil {
		ks.Gemm(a.dw, dIn, x, h3, sb, ni, h3, ni, ni, true, false, nil, gemm.None, 0, g)
	}
	if a.dr != nil {
		ks.Gemm(a.dr, dRec, hs[:sb*h], h3, sb, h, h3, h, h, true, false, nil, gemm.None, 0, g)
	}
	if db := a.db; db != nil {
		clear(db)
		for i := 0; i < sb; i++ {
			a, c := dIn[i*h3:(i+1)*h3], dRec[i*h3:(i+1)*h3]
			for j := 0; j < h3; j++ {
				db[j] += a[j]
				db[h3+j] += c[j]
			}
		}
	}
	if a.dh0 != nil {
		copy(a.dh0, dh)
	}
	if a.dx != nil {
		ks.Gemm(a.dx, dIn, w, sb, h3, ni, h3, ni, ni, false, false, nil, gemm.None, 0, g)
	}
}
