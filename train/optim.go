package train

import (
	"math"

	"github.com/sextant-ml/sextant/bundle"
	"github.com/sextant-ml/sextant/graph"
)

// Optimizer turns gradients into parameter updates. Its update runs as one
// graph node per parameter (SGDUpdate, AdamUpdate) at the end of the
// training plan; per-step values (the scheduled learning rate, Adam's bias
// corrections) reach it through a small "hyper" input the trainer fills.
type Optimizer interface {
	// op, attrs and states describe the update node and how many state
	// tensors (shaped like the parameter, zero-initialized) it carries.
	op() string
	attrs() map[string]*graph.Attr
	states() int
	// hyper fills the per-step values for step t (1-based) at rate lr.
	hyper(t int, lr float64, h []float64)
	learningRate() float64
	manifest() bundle.Optimizer
}

// hyperLen is the length of the hyper input (the longest optimizer's).
const hyperLen = 3

// SGD is stochastic gradient descent with optional momentum (PyTorch's
// formulation, dampening 0), Nesterov momentum and L2 weight decay.
type SGD struct {
	LR, Momentum float64
	Nesterov     bool
	WeightDecay  float64
}

// Adam is Adam (Kingma and Ba, 2015) as torch.optim.Adam, or with Decoupled
// weight decay AdamW (Loshchilov and Hutter, 2019) as torch.optim.AdamW.
// Zero Beta1/Beta2/Epsilon take the defaults 0.9, 0.999 and 1e-8.
type Adam struct {
	LR, Beta1, Beta2, Epsilon, WeightDecay float64
	Decoupled                              bool
}

func (o SGD) op() string { return "SGDUpdate" }
func (o SGD) attrs() map[string]*graph.Attr {
	a := map[string]*graph.Attr{"momentum": graph.FloatAttr(float32(o.Momentum)), "weight_decay": graph.FloatAttr(float32(o.WeightDecay))}
	if o.Nesterov {
		a["nesterov"] = graph.IntAttr(1)
	}
	return a
}
func (o SGD) states() int {
	if o.Momentum != 0 {
		return 1
	}
	return 0
}
func (o SGD) hyper(_ int, lr float64, h []float64) { h[0] = lr }
func (o SGD) learningRate() float64                { return o.LR }
func (o SGD) manifest() bundle.Optimizer {
	return bundle.Optimizer{Name: "sgd", LearningRate: o.LR, Momentum: o.Momentum, WeightDecay: o.WeightDecay}
}

func (o Adam) betas() (float64, float64, float64) {
	b1, b2, eps := o.Beta1, o.Beta2, o.Epsilon
	if b1 == 0 && b2 == 0 {
		b1, b2 = 0.9, 0.999
	}
	if eps == 0 {
		eps = 1e-8
	}
	return b1, b2, eps
}
func (o Adam) op() string { return "AdamUpdate" }
func (o Adam) attrs() map[string]*graph.Attr {
	b1, b2, eps := o.betas()
	a := map[string]*graph.Attr{"beta1": graph.FloatAttr(float32(b1)), "beta2": graph.FloatAttr(float32(b2)),
		"epsilon": graph.FloatAttr(float32(eps)), "weight_decay": graph.FloatAttr(float32(o.WeightDecay))}
	if o.Decoupled {
		a["decoupled"] = graph.IntAttr(1)
	}
	return a
}
func (o Adam) states() int { return 2 }

// hyper gives lr, the step size lr/(1−β₁ᵗ) and √(1−β₂ᵗ), computed in
// float64 as torch.optim.Adam does on the host.
func (o Adam) hyper(t int, lr float64, h []float64) {
	b1, b2, _ := o.betas()
	h[0] = lr
	h[1] = lr / (1 - math.Pow(b1, float64(t)))
	h[2] = math.Sqrt(1 - math.Pow(b2, float64(t)))
}
func (o Adam) learningRate() float64 { return o.LR }
func (o Adam) manifest() bundle.Optimizer {
	b1, b2, eps := o.betas()
	name := "adam"
	if o.Decoupled {
		name = "adamw"
	}
	return bundle.Optimizer{Name: name, LearningRate: o.LR, Betas: [2]float64{b1, b2}, Epsilon: eps, WeightDecay: o.WeightDecay}
}

// Schedule scales the base learning rate by Factor(step), step counting
// completed steps from 0. A nil Schedule is constant.
type Schedule interface {
	Factor(step int) float64
}

// StepDecay multiplies the rate by Gamma every Every steps
// (torch.optim.lr_scheduler.StepLR stepped once per training step).
type StepDecay struct {
	Every int
	Gamma float64
}

// Factor implements Schedule.
func (s StepDecay) Factor(step int) float64 {
	if s.Every <= 0 {
		return 1
	}
	return math.Pow(s.Gamma, float64(step/s.Every))
}

// Cosine anneals from the base rate to MinFactor of it over Steps steps
// (torch.optim.lr_scheduler.CosineAnnealingLR's closed form) and stays
// there.
type Cosine struct {
	Steps     int
	MinFactor float64
}

// Factor implements Schedule.
func (s Cosine) Factor(step int) float64 {
	if s.Steps <= 0 {
		return 1
	}
	t := math.Min(float64(step), float64(s.Steps))
	return s.MinFactor + (1-s.MinFactor)*(1+math.Cos(math.Pi*t/float64(s.Steps)))/2
}

// Warmup ramps the rate linearly over the first Steps steps ((step+1)/Steps
// of the rate) and then follows Then (nil: constant), with Then's steps
// counted from the end of the warm-up.
type Warmup struct {
	Steps int
	Then  Schedule
}

// Factor implements Schedule.
func (s Warmup) Factor(step int) float64 {
	if step < s.Steps {
		f := float64(step+1) / float64(s.Steps)
		if s.Then != nil {
			f *= s.Then.Factor(0)
		}
		return f
	}
	if s.Then == nil {
		return 1
	}
	return s.Then.Factor(step - s.Steps)
}
