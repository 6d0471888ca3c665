package kernels

import (
	"fmt"
	"math"

	"github.com/sextant-ml/sextant/graph"
	"github.com/sextant-ml/sextant/tensor"
)

// Training losses and their gradients. Each loss is the mean over the batch
// and is accumulated in float64.
//
// SoftmaxCrossEntropy(Logits[N,C], Labels[N] (int32/int64)[, Weights[C]];
// label_smoothing ε) follows torch.nn.functional.cross_entropy (PyTorch
// 1.13, aten/src/ATen/native/LossNLL.cpp): with W = Σᵢ w_{yᵢ} (N without
// weights),
//
//	loss = (1−ε)·Σᵢ w_{yᵢ}·(−log pᵢ,yᵢ)/W + (ε/C)·Σᵢ Σ_c w_c·(−log pᵢ,c)/W.
//
// Writing aᵢc for the coefficient of −log pᵢc, the gradient with respect
// to the logits is dLoss·(pᵢj·Σ_c aᵢc − aᵢj).
//
// MSELoss(P, T) = mean((P − T)²); HuberLoss(P, T; delta δ) = mean of ½d²
// where |d| < δ and δ(|d| − ½δ) elsewhere, d = P − T (torch.nn.HuberLoss).

func addGradLoss(add func(string, Factory)) {
	add("SoftmaxCrossEntropy", newSoftmaxCE)
	add("SoftmaxCrossEntropyGrad", newSoftmaxCE)
	for _, op := range []string{"MSELoss", "HuberLoss", "MSELossGrad", "HuberLossGrad"} {
		add(op, newRegressionLoss)
	}
}

type softmaxCEPlan struct {
	n, c   int
	smooth float64
	grad   bool
}

// newSoftmaxCE serves the loss (inputs Logits, Labels, Weights) and its
// gradient (inputs dLoss, Logits, Labels, Weights).
func newSoftmaxCE(n *graph.Node, opset int) (Kernel, error) {
	grad := n.Op == "SoftmaxCrossEntropyGrad"
	smooth := float64(n.Float("label_smoothing", 0))
	if smooth < 0 || smooth > 1 {
		return nil, fmt.Errorf("%s: label_smoothing %v not in [0, 1]", n.Op, smooth)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		args := in
		if grad {
			args = in[1:]
		}
		logits, labels := args[0], args[1]
		if len(logits.Shape) != 2 || labels.Len() != logits.Shape[0] {
			return Step{}, fmt.Errorf("%w: %s logits %v, labels %v: want [N,C] and [N]", tensor.ErrShape, n.Op, logits, labels)
		}
		if err := checkIndices(n.Op, labels); err != nil {
			return Step{}, err
		}
		p := &softmaxCEPlan{n: logits.Shape[0], c: logits.Shape[1], smooth: smooth, grad: grad}
		if w := inputAt(args, 2); w != nil && (w.Len() != p.c || w.DType != logits.DType) {
			return Step{}, fmt.Errorf("%w: %s weights %v for %d classes", tensor.ErrShape, n.Op, w, p.c)
		}
		want := tensor.Shape{}
		if grad {
			want = logits.Shape
		}
		if err := checkOut(out, 0, want); err != nil {
			return Step{}, err
		}
		return floatStep(n.Op, logits.DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { return softmaxCERun[float32](p, in, out) },
			func(in, out []*tensor.Tensor, _ []byte) error { return softmaxCERun[float64](p, in, out) })
	}), nil
}

func softmaxCERun[T floatElem](p *softmaxCEPlan, in, out []*tensor.Tensor) error {
	dloss := 1.0
	if p.grad {
		dloss = float64(tensor.Data[T](in[0])[0])
		in = in[1:]
	}
	z := tensor.Data[T](in[0])
	var w []T
	if len(in) > 2 && in[2] != nil {
		w = tensor.Data[T](in[2])
	}
	weight := func(c int) float64 {
		if w == nil {
			return 1
		}
		return float64(w[c])
	}
	var wsum float64 // Σ_c w_c
	for c := 0; c < p.c; c++ {
		wsum += weight(c)
	}
	var norm float64 // W
	for i := 0; i < p.n; i++ {
		y, err := labelAt(in[1], i, p.c)
		if err != nil {
			return err
		}
		norm += weight(y)
	}
	var loss float64
	var dz []T
	if p.grad {
		dz = tensor.Data[T](out[0])
	}
	eps := p.smooth / float64(p.c)
	for i := 0; i < p.n; i++ {
		y, _ := labelAt(in[1], i, p.c)
		row := z[i*p.c : (i+1)*p.c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var se float64
		for _, v := range row {
			se += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(se)
		// aᵢc = ((1−ε)·w_y·[c=y] + (ε/C)·w_c) / W
		asum := ((1-p.smooth)*weight(y) + eps*wsum) / norm
		for c, v := range row {
			a := eps * weight(c)
			if c == y {
				a += (1 - p.smooth) * weight(y)
			}
			a /= norm
			logp := float64(v) - lse
			if p.grad {
				dz[i*p.c+c] = T(dloss * (math.Exp(logp)*asum - a))
			} else {
				loss -= a * logp
			}
		}
	}
	if !p.grad {
		tensor.Data[T](out[0])[0] = T(loss)
	}
	return nil
}

// labelAt reads class label i and checks its range.
func labelAt(t *tensor.Tensor, i, classes int) (int, error) {
	var v int64
	if t.DType == tensor.Int32 {
		v = int64(tensor.Data[int32](t)[i])
	} else {
		v = tensor.Data[int64](t)[i]
	}
	if v < 0 || v >= int64(classes) {
		return 0, fmt.Errorf("label %d out of range [0, %d)", v, classes)
	}
	return int(v), nil
}

type regressionPlan struct {
	huber bool
	delta float64
	grad  bool
}

// newRegressionLoss serves MSELoss and HuberLoss (inputs P, T) and their
// gradients (inputs dLoss, P, T).
func newRegressionLoss(n *graph.Node, opset int) (Kernel, error) {
	p := &regressionPlan{huber: n.Op == "HuberLoss" || n.Op == "HuberLossGrad", delta: float64(n.Float("delta", 1))}
	p.grad = n.Op == "MSELossGrad" || n.Op == "HuberLossGrad"
	if p.huber && !(p.delta > 0) {
		return nil, fmt.Errorf("%s: delta %v must be positive", n.Op, p.delta)
	}
	return KernelFunc(func(in, out []*tensor.Tensor) (Step, error) {
		args := in
		if p.grad {
			args = in[1:]
		}
		if !args[0].Shape.Equal(args[1].Shape) || args[0].DType != args[1].DType {
			return Step{}, fmt.Errorf("%w: %s prediction %v and target %v differ", tensor.ErrShape, n.Op, args[0], args[1])
		}
		want := tensor.Shape{}
		if p.grad {
			want = args[0].Shape
		}
		if err := checkOut(out, 0, want); err != nil {
			return Step{}, err
		}
		return floatStep(n.Op, args[0].DType, 0,
			func(in, out []*tensor.Tensor, _ []byte) error { regressionRun[float32](p, in, out); return nil },
			func(in, out []*tensor.Tensor, _ []byte) error { regressionRun[float64](p, in, out); return nil })
	}), nil
}

func regressionRun[T floatElem](p *regressionPlan, in, out []*tensor.Tensor) {
	dloss := 1.0
	if p.grad {
		dloss = float64(tensor.Data[T](in[0])[0])
		in = in[1:]
	}
	pr, tg, o := tensor.Data[T](in[0]), tensor.Data[T](in[1]), tensor.Data[T](out[0])
	inv := 1 / float64(max(len(pr), 1))
	var loss float64
	for i, v := range pr {
		d := float64(v) - float64(tg[i])
		switch {
		case p.grad && !p.huber:
			o[i] = T(dloss * 2 * d * inv)
		case p.grad && math.Abs(d) < p.delta:
			o[i] = T(dloss * d * inv)
		case p.grad:
			o[i] = T(dloss * math.Copysign(p.delta, d) * inv)
		case !p.huber:
			loss += d * d
		case math.Abs(d) < p.delta:
			loss += 0.5 * d * d
		default:
			loss += p.delta * (math.Abs(d) - 0.5*p.delta)
		}
	}
	if !p.grad {
		o[0] = T(loss * inv)
	}
}
