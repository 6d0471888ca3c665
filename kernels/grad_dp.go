package kernels

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// DP-SGD kernels (domain ai.sextant). The train package clips each
// example's gradient without materializing per-example weight gradients:
// the per-example squared norms come from the activations and output
// gradients the batch backward pass already has (for a row-wise linear
// layer ‖xᵢ‖²·‖dyᵢ‖², Goodfellow 2015, "Efficient per-example gradient
// computations", arXiv:1510.01799; for sequences the "ghost norm"
// Σₜₛ(xₜ·xₛ)(dyₜ·dyₛ) of Li, Tramèr, Liang, Hashimoto 2022, "Large language
// models can be strong differentially private learners", §4, or the
// materialized Xᵢᵀ·dYᵢ when that is cheaper), and each parameter gradient is
// then the batch gradient of the row-scaled dY (DPRowScale).

func addGradDP(add func(string, Factory)) {
	add("DPRowScale", newDPRowScale)
	add("DPClipFactor", newDPClipFactor)
	add("DPLinearNorms", newDPLinearNorms)
	add("DPReduceNorms", newDPReduceNorms)
	add("DPLayerNormNorms", newDPLayerNormNorms)
	add("DPGatherNorms", newDPGatherNorms)
	add("DPGRUNorms", newDPGRUNorms)
}

// batchAxis reads the node's "axis" attribute as a batch axis of a rank-r
// tensor.
func batchAxis(n *graph.Node, r int) (int, error) {
	a := int(n.Int("axis", 0))
	if a < 0 || a >= r {
		return 0, fmt.Errorf("%s: batch axis %d of a rank-%d tensor", n.Op, a, r)
	}
	return a, nil
}

// newDPRowScale is (dY, C[N]) → dY·C[i] along the batch axis (times N when
// rows_factor is 1: the trainer's mask turns the batch-mean loss gradient
// into per-example gradients with it).
func newDPRowScale(n *graph.Node, opset int) (Kernel, error) {
	rows := n.Int("rows_factor", 0) != 0
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		d, c := in[0], in[1]
		axis, err := batchAxis(n, len(d.Shape))
		if err != nil {
			return Step{}, err
		}
		nb := d.Shape[axis]
		if c.DType != d.DType || c.Len() != nb {
			return Step{}, fmt.Errorf("%w: DPRowScale factors %v for %v along axis %d", tensor.ErrShape, c, d, axis)
		}
		if err := checkOut(out, 0, d.Shape); err != nil {
			return Step{}, err
		}
		outer, inner := d.Shape[:axis].NumElements(), d.Shape[axis+1:].NumElements()
		f := 1.0
		if rows {
			f = float64(nb)
		}
		return floatStep("DPRowScale", d.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error {
				rowScaleRun[float32](in, out, outer, nb, inner, f)
				return nil
			},
			func(in, out []*tensor.Tensor, _ []byte) error {
				rowScaleRun[float64](in, out, outer, nb, inner, f)
				return nil
			})
	}), nil
}

func rowScaleRun[T floatElem](in, out []*tensor.Tensor, outer, nb, inner int, f float64) {
	d, c, y := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	for o := 0; o < outer; o++ {
		for i := 0; i < nb; i++ {
			s := T(float64(c[i]) * f)
			base := (o*nb + i) * inner
			src, dst := d[base:base+inner], y[base:base+inner]
			for k, v := range src {
				dst[k] = v * s
			}
		}
	}
}

// newDPClipFactor is (S₀[N], S₁[N], …) → min(1, clip/(√ΣₖSₖ + 10⁻⁶)), the
// per-example clipping factor of Abadi et al. 2016 (Algorithm 1) with
// Opacus' stabilizer.
func newDPClipFactor(n *graph.Node, opset int) (Kernel, error) {
	clip := float64(n.Float("clip", 1))
	if !(clip > 0) {
		return nil, fmt.Errorf("DPClipFactor: clip %v must be positive", clip)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		for _, s := range in {
			if s == nil || s.DType != in[0].DType || !s.Shape.Equal(in[0].Shape) || len(s.Shape) != 1 {
				return Step{}, fmt.Errorf("%w: DPClipFactor inputs must all be 1-D %v like %v", tensor.ErrShape, in[0].DType, in[0].Shape)
			}
		}
		if err := checkOut(out, 0, in[0].Shape); err != nil {
			return Step{}, err
		}
		return floatStep("DPClipFactor", in[0].DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { clipFactorRun[float32](clip, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { clipFactorRun[float64](clip, in, out); return nil })
	}), nil
}

func clipFactorRun[T floatElem](clip float64, in, out []*tensor.Tensor) {
	c := tensor.Data[T](out[0])
	for i := range c {
		var s float64
		for _, t := range in {
			s += float64(tensor.Data[T](t)[i])
		}
		c[i] = T(min(1, clip/(math.Sqrt(s)+1e-6)))
	}
}

// f64Scratch views scratch as n float64s.
func f64Scratch(scratch []byte, n int) []float64 {
	if n == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&scratch[0])), n)
}

// newDPLinearNorms is (A, dY) → (W, B): for Y = α·A·W (+ bias) with A
// [N, T…, K] and dY [N, T…, M] (T… flattened to T, T = 1 for a plain
// batch), Wᵢ = α²‖Aᵢᵀ·dYᵢ‖² and Bᵢ = ‖Σₜ dYᵢₜ‖².
func newDPLinearNorms(n *graph.Node, opset int) (Kernel, error) {
	alpha := float64(n.Float("alpha", 1))
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		a, d := in[0], in[1]
		if len(a.Shape) < 2 || len(d.Shape) != len(a.Shape) || a.DType != d.DType ||
			!a.Shape[:len(a.Shape)-1].Equal(d.Shape[:len(d.Shape)-1]) {
			return Step{}, fmt.Errorf("%w: DPLinearNorms activations %v and gradient %v", tensor.ErrShape, a, d)
		}
		r := len(a.Shape)
		p := linearNormsPlan{nb: a.Shape[0], t: a.Shape[1 : r-1].NumElements(), k: a.Shape[r-1], m: d.Shape[r-1], a2: alpha * alpha}
		for i := range out {
			if err := checkOut(out, i, tensor.Shape{p.nb}); err != nil {
				return Step{}, err
			}
		}
		// Ghost norm costs T²(K+M) per example, materializing Aᵢᵀ·dYᵢ
		// T·K·M plus K·M: take the cheaper (Li et al. 2022, §4).
		p.ghost = p.t*(p.k+p.m) <= p.k*p.m
		scratch := p.m
		if p.t > 1 && !p.ghost {
			scratch += p.k * p.m
		}
		return floatStep("DPLinearNorms", a.DType, 8*scratch,
			func(in, out []*tensor.Tensor, s []byte) error { linearNormsRun[float32](&p, in, out, s); return nil },
			func(in, out []*tensor.Tensor, s []byte) error { linearNormsRun[float64](&p, in, out, s); return nil })
	}), nil
}

type linearNormsPlan struct {
	nb, t, k, m int
	a2          float64
	ghost       bool
}

func dpDot[T floatElem](x, y []T) float64 {
	var s float64
	for i, v := range x {
		s += float64(v) * float64(y[i])
	}
	return s
}

func linearNormsRun[T floatElem](p *linearNormsPlan, in, out []*tensor.Tensor, scratch []byte) {
	a, d := tensor.Data[T](in[0]), tensor.Data[T](in[1])
	var w, b []T
	if out[0] != nil {
		w = tensor.Data[T](out[0])
	}
	if len(out) > 1 && out[1] != nil {
		b = tensor.Data[T](out[1])
	}
	acc := f64Scratch(scratch, p.m)
	var mat []float64
	if p.t > 1 && !p.ghost {
		mat = f64Scratch(scratch[8*p.m:], p.k*p.m)
	}
	k, m, t := p.k, p.m, p.t
	for i := 0; i < p.nb; i++ {
		ai, di := a[i*t*k:(i+1)*t*k], d[i*t*m:(i+1)*t*m]
		if w != nil {
			var s float64
			switch {
			case t == 1:
				s = dpDot(ai, ai) * dpDot(di, di)
			case p.ghost:
				for u := 0; u < t; u++ {
					au, du := ai[u*k:(u+1)*k], di[u*m:(u+1)*m]
					s += dpDot(au, au) * dpDot(du, du)
					for v := u + 1; v < t; v++ {
						s += 2 * dpDot(au, ai[v*k:(v+1)*k]) * dpDot(du, di[v*m:(v+1)*m])
					}
				}
			default:
				clear(mat)
				for u := 0; u < t; u++ {
					du := di[u*m : (u+1)*m]
					for x, av := range ai[u*k : (u+1)*k] {
						row, f := mat[x*m:(x+1)*m], float64(av)
						for j, dv := range du {
							row[j] += f * float64(dv)
						}
					}
				}
				for _, v := range mat {
					s += v * v
				}
			}
			w[i] = T(p.a2 * s)
		}
		if b != nil {
			clear(acc)
			for u := 0; u < t; u++ {
				for j, dv := range di[u*m : (u+1)*m] {
					acc[j] += float64(dv)
				}
			}
			var s float64
			for _, v := range acc {
				s += v * v
			}
			b[i] = T(s)
		}
	}
}
