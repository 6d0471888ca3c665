package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// newGRUGrad is (dY, dY_h, X, W, R, B, initial_h) → dX, dW, dR, dB, dH0 of a
// single-direction forward GRU (layout 0, default Sigmoid/Tanh activations,
// no clip, no sequence_lens), either linear_before_reset form (equations in
// rnn.go). dY and dY_h may each be absent; B and initial_h as in the
// forward node. It recomputes the forward pass into float64 scratch (gates
// and states of every step) and then runs backpropagation through time,
// accumulating the weight gradients in float64.
func newGRUGrad(n *graph.Node, opset int) (Kernel, error) {
	lbr := n.Int("linear_before_reset", 0) != 0
	hidden := int(n.Int("hidden_size", 0))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		x, w, r := in[2], in[3], in[4]
		if len(x.Shape) != 3 || len(w.Shape) != 3 || len(r.Shape) != 3 || w.Shape[0] != 1 {
			return Step{}, fmt.Errorf("%w: GRUGrad supports one direction, layout 0: X %v, W %v", tensor.ErrShape, x, w)
		}
		p := &gruGradPlan{seq: x.Shape[0], batch: x.Shape[1], in: x.Shape[2], h: hidden, lbr: lbr}
		h := p.h
		if w.Shape[1] != 3*h || w.Shape[2] != p.in || r.Shape[1] != 3*h || r.Shape[2] != h {
			return Step{}, fmt.Errorf("%w: GRUGrad W %v, R %v for hidden size %d", tensor.ErrShape, w, r, h)
		}
		checks := []struct {
			t    *tensor.Tensor
			want tensor.Shape
		}{{in[0], tensor.Shape{p.seq, 1, p.batch, h}}, {in[1], tensor.Shape{1, p.batch, h}},
			{inputAt(in, 5), tensor.Shape{1, 6 * h}}, {inputAt(in, 6), tensor.Shape{1, p.batch, h}}}
		for _, c := range checks {
			if c.t != nil && (!c.t.Shape.Equal(c.want) || c.t.DType != x.DType) {
				return Step{}, fmt.Errorf("%w: GRUGrad operand %v, want %v%v", tensor.ErrShape, c.t, x.DType, c.want)
			}
		}
		for i, s := range []tensor.Shape{x.Shape, w.Shape, r.Shape, {1, 6 * h}, {1, p.batch, h}} {
			if err := checkOut(out, i, s); err != nil {
				return Step{}, err
			}
		}
		bh := p.batch * h
		var l scratchLayout
		p.offH = l.take((p.seq + 1) * bh * 8)
		p.offZ = l.take(p.seq * bh * 8)
		p.offR = l.take(p.seq * bh * 8)
		p.offN = l.take(p.seq * bh * 8)
		p.offQ = l.take(p.seq * bh * 8)
		p.offDh = l.take(2 * bh * 8)
		p.offDa = l.take(3 * h * 8)
		p.offDW = l.take(3 * h * p.in * 8)
		p.offDR = l.take(3 * h * h * 8)
		p.offDB = l.take(6 * h * 8)
		if x.DType == tensor.Float32 && lbr {
			f, size := newGRUGradF32Plan(p)
			return Step{Scratch: size, Run: func(in, out []*tensor.Tensor, s []byte) error { gruGradRunF32(p, f, in, out, s); return nil }}, nil
		}
		return floatStep("GRUGrad", x.DType, l.size,
			func(in, out []*tensor.Tensor, s []byte) error { gruGradRun[float32](p, in, out, s); return nil },
			func(in, out []*tensor.Tensor, s []byte) error { gruGradRun[float64](p, in, out, s); return nil })
	}), nil
}

type gruGradPlan struct {
	seq, batch, in, h int
	lbr               bool
	// Scratch offsets (float64 arrays): hidden states H₀…H_seq, gates z, r,
	// candidate n, and q = H₋₁·Rhᵀ + Rbh (linear_before_reset) or
	// r ⊙ H₋₁ (otherwise) per step; dH and dH₋₁; the three gate
	// pre-activation gradients; dW, dR, dB accumulators.
	offH, offZ, offR, offN, offQ, offDh, offDa, offDW, offDR, offDB int
}

func gruGradRun[T floatElem](p *gruGradPlan, in, out []*tensor.Tensor, scratch []byte) {
	h, bh := p.h, p.batch*p.h
	x, w, r := tensor.Data[T](in[2]), tensor.Data[T](in[3]), tensor.Data[T](in[4])
	var bias []T
	if b := inputAt(in, 5); b != nil {
		bias = tensor.Data[T](b)
	}
	bw := func(i int) float64 { // W bias (i < 3H) or R bias (i ≥ 3H)
		if bias == nil {
			return 0
		}
		return float64(bias[i])
	}
	hs := section[float64](scratch, p.offH, (p.seq+1)*bh)
	zs := section[float64](scratch, p.offZ, p.seq*bh)
	rs := section[float64](scratch, p.offR, p.seq*bh)
	ns := section[float64](scratch, p.offN, p.seq*bh)
	qs := section[float64](scratch, p.offQ, p.seq*bh)
	if h0 := inputAt(in, 6); h0 != nil {
		for i, v := range tensor.Data[T](h0) {
			hs[i] = float64(v)
		}
	} else {
		clear(hs[:bh])
	}
	// Forward pass.
	for t := 0; t < p.seq; t++ {
		for b := 0; b < p.batch; b++ {
			xt := x[(t*p.batch+b)*p.in : (t*p.batch+b+1)*p.in]
			prev := hs[t*bh+b*h : t*bh+(b+1)*h]
			o := t*bh + b*h
			for j := 0; j < h; j++ {
				var az, ar float64
				az, ar = bw(j)+bw(3*h+j), bw(h+j)+bw(4*h+j)
				for i, xv := range xt {
					az += float64(xv) * float64(w[j*p.in+i])
					ar += float64(xv) * float64(w[(h+j)*p.in+i])
				}
				for k, hv := range prev {
					az += hv * float64(r[j*h+k])
					ar += hv * float64(r[(h+j)*h+k])
				}
				zs[o+j], rs[o+j] = sigmoid64(az), sigmoid64(ar)
			}
			for j := 0; j < h; j++ {
				an := bw(2*h + j)
				for i, xv := range xt {
					an += float64(xv) * float64(w[(2*h+j)*p.in+i])
				}
				rec := bw(5*h + j)
				for k, hv := range prev {
					if p.lbr {
						rec += hv * float64(r[(2*h+j)*h+k])
					} else {
						rec += rs[o+k] * hv * float64(r[(2*h+j)*h+k])
					}
				}
				if p.lbr {
					qs[o+j] = rec
					an += rs[o+j] * rec
				} else {
					qs[o+j] = rs[o+j] * prev[j]
					an += rec
				}
				ns[o+j] = math.Tanh(an)
				hs[(t+1)*bh+b*h+j] = (1-zs[o+j])*ns[o+j] + zs[o+j]*prev[j]
			}
		}
	}
	// Backward pass through time.
	dh := section[float64](scratch, p.offDh, 2*bh)
	dprev := dh[bh:]
	dh = dh[:bh]
	clear(dh)
	if in[1] != nil {
		for i, v := range tensor.Data[T](in[1]) {
			dh[i] = float64(v)
		}
	}
	da := section[float64](scratch, p.offDa, 3*h)
	dW := section[float64](scratch, p.offDW, 3*h*p.in)
	dR := section[float64](scratch, p.offDR, 3*h*h)
	dB := section[float64](scratch, p.offDB, 6*h)
	clear(dW)
	clear(dR)
	clear(dB)
	var dx []T
	if out[0] != nil {
		dx = tensor.Data[T](out[0])
	}
	for t := p.seq - 1; t >= 0; t-- {
		if in[0] != nil {
			for i, v := range tensor.Data[T](in[0])[t*bh : (t+1)*bh] {
				dh[i] += float64(v)
			}
		}
		clear(dprev)
		for b := 0; b < p.batch; b++ {
			o := t*bh + b*h
			prev := hs[t*bh+b*h : t*bh+(b+1)*h]
			dhb, dpb := dh[b*h:(b+1)*h], dprev[b*h:(b+1)*h]
			daz, dar, dan := da[:h], da[h:2*h], da[2*h:]
			for j := 0; j < h; j++ {
				z, n := zs[o+j], ns[o+j]
				daz[j] = dhb[j] * (prev[j] - n) * z * (1 - z)
				dan[j] = dhb[j] * (1 - z) * (1 - n*n)
				dpb[j] += dhb[j] * z
				dar[j] = 0
			}
			if p.lbr {
				for j := 0; j < h; j++ {
					dq := dan[j] * rs[o+j]
					dar[j] = dan[j] * qs[o+j]
					dB[5*h+j] += dq
					for k, hv := range prev {
						dR[(2*h+j)*h+k] += dq * hv
						dpb[k] += dq * float64(r[(2*h+j)*h+k])
					}
				}
			} else {
				for j := 0; j < h; j++ {
					dB[5*h+j] += dan[j]
					for k := 0; k < h; k++ {
						rh := float64(r[(2*h+j)*h+k])
						dR[(2*h+j)*h+k] += dan[j] * qs[o+k]
						ds := dan[j] * rh // contribution to d(r ⊙ H₋₁)_k
						dar[k] += ds * prev[k]
						dpb[k] += ds * rs[o+k]
					}
				}
			}
			for j := 0; j < h; j++ {
				rv := rs[o+j]
				dar[j] *= rv * (1 - rv)
			}
			// z and r recurrences and biases.
			for g := 0; g < 2; g++ {
				for j := 0; j < h; j++ {
					d := da[g*h+j]
					dB[3*h+g*h+j] += d
					for k, hv := range prev {
						dR[(g*h+j)*h+k] += d * hv
						dpb[k] += d * float64(r[(g*h+j)*h+k])
					}
				}
			}
			// Input weights, input bias and dX for all three gates.
			xt := x[(t*p.batch+b)*p.in : (t*p.batch+b+1)*p.in]
			var dxt []T
			if dx != nil {
				dxt = dx[(t*p.batch+b)*p.in : (t*p.batch+b+1)*p.in]
				clear(dxt)
			}
			for gj := 0; gj < 3*h; gj++ {
				d := da[gj]
				dB[gj] += d
				wr := w[gj*p.in : (gj+1)*p.in]
				dwr := dW[gj*p.in : (gj+1)*p.in]
				for i, xv := range xt {
					dwr[i] += d * float64(xv)
					if dxt != nil {
						dxt[i] += T(d * float64(wr[i]))
					}
				}
			}
		}
		copy(dh, dprev)
	}
	for i, dst := range [][]float64{dW, dR, dB, dh} {
		if len(out) > i+1 && out[i+1] != nil {
			o := tensor.Data[T](out[i+1])
			for k, v := range dst {
				o[k] = T(v)
			}
		}
	}
}
