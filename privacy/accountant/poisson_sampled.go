package accountant

import (
	"fmt"
	"math"
)

// PoissonSampled is Event run on a Poisson sample of the data, each record
// included with probability Q. Its RDP is bounded by the general upper bound
// of Zhu and Wang 2019 ("Poisson Subsampled Rényi Differential Privacy",
// Thm. 6), which holds for any mechanism with RDP ε(·) at integer orders
// α ≥ 2:
//
//	ε'(α) ≤ 1/(α-1) · log( (1-q)^(α-1)·(αq - q + 1)
//	                       + C(α,2)·q²·(1-q)^(α-2)·e^(ε(2))
//	                       + 3·Σ_{ℓ=3..α} C(α,ℓ)·(1-q)^(α-ℓ)·q^ℓ·e^((ℓ-1)·ε(ℓ)) ).
//
// A fractional order α takes the bound at ⌈α⌉ (RDP is non-decreasing in the
// order), and orders in (1, 2) the bound at 2. For the subsampled Gaussian
// use SampledGaussian, which is exact; this is for mechanisms without a
// dedicated analysis, such as the distributed discrete Gaussian. Orders
// above maxPoissonSampledOrder are bounded by the inner event's RDP at that
// order (subsampling never hurts: ε'(α) ≤ ε(α)), here as at every order the
// smaller of the two bounds is taken.
type PoissonSampled struct {
	Q     float64
	Event Event
}

// maxPoissonSampledOrder caps the integer order the sum is evaluated at.
const maxPoissonSampledOrder = 256

// AddRDP implements Event.
func (p PoissonSampled) AddRDP(orders, rdp []float64) error {
	if !(p.Q >= 0 && p.Q <= 1) {
		return fmt.Errorf("accountant: sampling probability %v outside [0, 1]", p.Q)
	}
	if p.Event == nil {
		return fmt.Errorf("accountant: PoissonSampled needs an event")
	}
	if p.Q == 0 {
		return nil
	}
	direct := make([]float64, len(orders))
	if err := p.Event.AddRDP(orders, direct); err != nil {
		return err
	}
	if p.Q == 1 {
		for i, v := range direct {
			rdp[i] += v
		}
		return nil
	}
	top := 2
	for _, a := range orders {
		if !math.IsInf(a, 1) {
			top = max(top, int(math.Ceil(a)))
		}
	}
	top = min(top, maxPoissonSampledOrder)
	ints := make([]float64, top-1) // orders 2..top
	for i := range ints {
		ints[i] = float64(i + 2)
	}
	inner := make([]float64, len(ints))
	if err := p.Event.AddRDP(ints, inner); err != nil {
		return err
	}
	eps := func(l int) float64 { return inner[l-2] }
	bound := make([]float64, top+1) // bound[α] for integer α in [2, top]
	lq, l1q := math.Log(p.Q), math.Log1p(-p.Q)
	for a := 2; a <= top; a++ {
		fa := float64(a)
		s := newLogSumExp()
		s.add(float64(a-1)*l1q + math.Log(fa*p.Q-p.Q+1))
		s.add(logBinom(a, 2) + 2*lq + float64(a-2)*l1q + eps(2))
		for l := 3; l <= a; l++ {
			s.add(math.Log(3) + logBinom(a, l) + float64(a-l)*l1q + float64(l)*lq + float64(l-1)*eps(l))
		}
		bound[a] = max(s.value()/(fa-1), 0)
	}
	for i, a := range orders {
		v := direct[i]
		if !math.IsInf(a, 1) {
			if ia := max(2, int(math.Ceil(a))); ia <= top {
				v = min(v, bound[ia])
			}
		}
		rdp[i] += v
	}
	return nil
}

func logBinom(n, k int) float64 {
	return logFactorial(n) - logFactorial(k) - logFactorial(n-k)
}
