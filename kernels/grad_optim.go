package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Optimizer updates and global-norm clipping. The updates are elementwise
// and read each element before writing it, so the engine may run them in
// place: a trainer binds P' to P's buffer and State' to State's.
//
// Hyper (input 2) is a 1-D tensor of per-step values the trainer computes
// (learning-rate schedule, Adam bias corrections); Scale (input 3,
// optional) multiplies the gradient (global-norm clipping). The formulas
// are PyTorch 1.13's single-tensor torch.optim.SGD and Adam/AdamW
// (torch/optim/sgd.py, adam.py, adamw.py), in float64 per element.

func addGradOptim(add func(string, Factory)) {
	add("SGDUpdate", newUpdate)
	add("AdamUpdate", newUpdate)
	add("GlobalNormScale", newGlobalNormScale)
	add("SparseRowSGD", newSparseRowSGD)
}

type updatePlan struct {
	adam                  bool
	momentum, wd          float64
	nesterov              bool
	beta1, beta2, eps     float64
	decoupled, hasState   bool
	hyperLen, stateInputs int
}

func newUpdate(n *graph.Node, opset int) (Kernel, error) {
	p := &updatePlan{adam: n.Op == "AdamUpdate", wd: float64(n.Float("weight_decay", 0))}
	if p.adam {
		p.beta1, p.beta2 = float64(n.Float("beta1", 0.9)), float64(n.Float("beta2", 0.999))
		p.eps = float64(n.Float("epsilon", 1e-8))
		p.decoupled = n.Int("decoupled", 0) != 0
		p.hyperLen = 3 // lr, lr/(1−β₁ᵗ), √(1−β₂ᵗ)
	} else {
		p.momentum = float64(n.Float("momentum", 0))
		p.nesterov = n.Int("nesterov", 0) != 0
		p.hyperLen = 1 // lr
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		par, g, hyper := in[0], in[1], in[2]
		if !g.Shape.Equal(par.Shape) || g.DType != par.DType || hyper.DType != par.DType || hyper.Len() < p.hyperLen {
			return Step{}, fmt.Errorf("%w: %s param %v, grad %v, hyper %v", tensor.ErrShape, n.Op, par, g, hyper)
		}
		if s := inputAt(in, 3); s != nil && (s.Len() != 1 || s.DType != par.DType) {
			return Step{}, fmt.Errorf("%w: %s scale %v", tensor.ErrShape, n.Op, s)
		}
		for i := 4; i < len(in); i++ {
			if in[i] == nil || !in[i].Shape.Equal(par.Shape) || in[i].DType != par.DType {
				return Step{}, fmt.Errorf("%w: %s state input %d is %v, want %v", tensor.ErrShape, n.Op, i, in[i], par)
			}
		}
		q := *p
		q.hasState = len(in) > 4
		if p.adam && len(in) != 6 {
			return Step{}, fmt.Errorf("AdamUpdate: want 6 inputs (P, G, Hyper, Scale, M, V), got %d", len(in))
		}
		if !p.adam && p.momentum != 0 && !q.hasState {
			return Step{}, fmt.Errorf("SGDUpdate: momentum %v needs a velocity input", p.momentum)
		}
		for i := range out {
			if err := checkOut(out, i, par.Shape); err != nil {
				return Step{}, err
			}
		}
		return floatStep(n.Op, par.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { updateRun[float32](&q, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { updateRun[float64](&q, in, out); return nil })
	}), nil
}

func updateRun[T floatElem](p *updatePlan, in, out []*tensor.Tensor) {
	par, g, hyper := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](in[2])
	scale := 1.0
	if len(in) > 3 && in[3] != nil {
		scale = float64(tensor.Data[T](in[3])[0])
	}
	np := tensor.Data[T](out[0])
	lr := float64(hyper[0])
	if p.adam {
		m, v := tensor.Data[T](in[4]), tensor.Data[T](in[5])
		nm, nv := tensor.Data[T](out[1]), tensor.Data[T](out[2])
		stepSize, bc2 := float64(hyper[1]), float64(hyper[2])
		for i := range par {
			w, d := float64(par[i]), float64(g[i])*scale
			if p.decoupled {
				w *= 1 - lr*p.wd
			} else if p.wd != 0 {
				d += p.wd * w
			}
			mi := p.beta1*float64(m[i]) + (1-p.beta1)*d
			vi := p.beta2*float64(v[i]) + (1-p.beta2)*d*d
			nm[i], nv[i] = T(mi), T(vi)
			np[i] = T(w - stepSize*mi/(math.Sqrt(vi)/bc2+p.eps))
		}
		return
	}
	var vel, nvel []T
	if p.hasState {
		vel, nvel = tensor.Data[T](in[4]), tensor.Data[T](out[1])
	}
	for i := range par {
		w, d := float64(par[i]), float64(g[i])*scale
		if p.wd != 0 {
			d += p.wd * w
		}
		if vel != nil {
			// The first step's buffer is d itself, which momentum·0 + d
			// reproduces (dampening is 0).
			b := p.momentum*float64(vel[i]) + d
			nvel[i] = T(b)
			if p.nesterov {
				d += p.momentum * b
			} else {
				d = b
			}
		}
		np[i] = T(w - lr*d)
	}
}

// newGlobalNormScale is (G₀, G₁, …) → min(1, max_norm/(‖G‖₂ + 10⁻⁶)), the
// factor torch.nn.utils.clip_grad_norm_ multiplies every gradient by, where
// ‖G‖₂ is the L2 norm of all the gradients together.
func newGlobalNormScale(n *graph.Node, opset int) (Kernel, error) {
	maxNorm := float64(n.Float("max_norm", 1))
	if !(maxNorm > 0) {
		return nil, fmt.Errorf("GlobalNormScale: max_norm %v must be positive", maxNorm)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		for _, t := range in {
			if t == nil || t.DType != in[0].DType {
				return Step{}, fmt.Errorf("GlobalNormScale: inputs must all be %v", in[0].DType)
			}
		}
		if err := checkOut(out, 0, tensor.Shape{}); err != nil {
			return Step{}, err
		}
		return floatStep("GlobalNormScale", in[0].DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { globalNormRun[float32](maxNorm, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { globalNormRun[float64](maxNorm, in, out); return nil })
	}), nil
}

func globalNormRun[T floatElem](maxNorm float64, in, out []*tensor.Tensor) {
	var ss float64
	for _, t := range in {
		for _, v := range tensor.Data[T](t) {
			ss += float64(v) * float64(v)
		}
	}
	tensor.Data[T](out[0])[0] = T(min(1, maxNorm/(math.Sqrt(ss)+1e-6)))
}

// newSparseRowSGD is (P, dRows, Indices, Hyper[, Scale]) → P′ for an
// embedding table P [V, …] read only by Gather(P, Indices, axis 0): plain
// SGD applied to the gathered rows alone, P[Indices[k]] −= lr·Scale·dRows[k]
// (repeated indices accumulate), so a step costs O(rows used), not O(V).
// Run in place (P′ aliasing P, as the trainer binds it) it touches only
// those rows; otherwise it first copies P into P′, so every output element
// is written either way.
func newSparseRowSGD(n *graph.Node, opset int) (Kernel, error) {
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		par, d, idx, hyper := in[0], in[1], in[2], in[3]
		if len(par.Shape) < 1 || par.Shape[0] == 0 {
			return Step{}, fmt.Errorf("%w: SparseRowSGD table %v", tensor.ErrShape, par)
		}
		if err := checkIndices("SparseRowSGD", idx); err != nil {
			return Step{}, err
		}
		inner := par.Shape[1:].NumElements()
		if d.DType != par.DType || d.Len() != idx.Len()*inner || hyper.DType != par.DType || hyper.Len() < 1 {
			return Step{}, fmt.Errorf("%w: SparseRowSGD rows %v for table %v and indices %v", tensor.ErrShape, d, par, idx)
		}
		if s := inputAt(in, 4); s != nil && (s.Len() != 1 || s.DType != par.DType) {
			return Step{}, fmt.Errorf("%w: SparseRowSGD scale %v", tensor.ErrShape, s)
		}
		if err := checkOut(out, 0, par.Shape); err != nil {
			return Step{}, err
		}
		p := &gatherGradPlan{outer: 1, dim: par.Shape[0], inner: inner, n: idx.Len()}
		return floatStep("SparseRowSGD", par.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { return sparseRowSGDRun[float32](p, in, out) },
			func(in, out []*tensor.Tensor, _ []byte) error { return sparseRowSGDRun[float64](p, in, out) })
	}), nil
}

func sparseRowSGDRun[T floatElem](p *gatherGradPlan, in, out []*tensor.Tensor) error {
	par, d, np := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	if len(np) > 0 && &np[0] != &par[0] {
		copy(np, par)
	}
	step := float64(tensor.Data[T](in[3])[0])
	if len(in) > 4 && in[4] != nil {
		step *= float64(tensor.Data[T](in[4])[0])
	}
	for k := 0; k < p.n; k++ {
		var v int64
		if in[2].DType == tensor.Int32 {
			v = int64(tensor.Data[int32](in[2])[k])
		} else {
			v = tensor.Data[int64](in[2])[k]
		}
		i, ok := normIndex(v, p.dim)
		if !ok {
			return indexError("SparseRowSGD", v, p.dim)
		}
		row, g := np[i*p.inner:(i+1)*p.inner], d[k*p.inner:(k+1)*p.inner]
		for j, gv := range g {
			row[j] = T(float64(row[j]) - step*float64(gv))
		}
	}
	return nil
}
