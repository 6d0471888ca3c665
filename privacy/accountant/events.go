package accountant

import (
	"errors"
	"fmt"
	"math"
)

// An Event is a differentially private computation whose RDP curve is known.
// AddRDP adds the event's RDP bound at each order to rdp, which has the
// length of orders; every order is > 1 (and may be +Inf).
type Event interface {
	AddRDP(orders, rdp []float64) error
}

// Gaussian is the Gaussian mechanism with noise standard deviation
// NoiseMultiplier times the L2 sensitivity: RDP α/(2σ²).
type Gaussian struct {
	NoiseMultiplier float64 `json:"noise_multiplier"`
}

// AddRDP implements Event.
func (g Gaussian) AddRDP(orders, rdp []float64) error {
	return SampledGaussian{Q: 1, NoiseMultiplier: g.NoiseMultiplier}.AddRDP(orders, rdp)
}

// SampledGaussian is one step of the Gaussian mechanism applied to a Poisson
// sample of the data, each record included with probability Q.
type SampledGaussian struct {
	Q               float64 `json:"q"`
	NoiseMultiplier float64 `json:"noise_multiplier"`
}

// AddRDP implements Event.
func (s SampledGaussian) AddRDP(orders, rdp []float64) error {
	for i, a := range orders {
		v, err := SampledGaussianRDP(s.Q, s.NoiseMultiplier, a)
		if err != nil {
			return err
		}
		rdp[i] += v
	}
	return nil
}

// ZCDP is a ρ-zero-concentrated-DP mechanism (Bun, Steinke 2016): RDP ρα.
type ZCDP struct {
	Rho float64 `json:"rho"`
}

// AddRDP implements Event.
func (z ZCDP) AddRDP(orders, rdp []float64) error {
	if !(z.Rho >= 0) {
		return fmt.Errorf("accountant: zCDP rho %v must be ≥ 0", z.Rho)
	}
	for i, a := range orders {
		if z.Rho == 0 {
			continue
		}
		rdp[i] += z.Rho * a
	}
	return nil
}

// Laplace is the Laplace mechanism with noise scale Scale times the L1
// sensitivity, which is (1/Scale)-DP.
type Laplace struct {
	Scale float64 `json:"scale"`
}

// AddRDP implements Event: Mironov 2017, Prop. 6, with ε = 1/Scale,
//
//	RDP(α) = ε + log(1 + (α-1)(exp((1-2α)ε) - 1)/(2α-1)) / (α-1),
//
// which tends to ε as α → ∞.
func (l Laplace) AddRDP(orders, rdp []float64) error {
	if !(l.Scale >= 0) {
		return fmt.Errorf("accountant: Laplace scale %v must be ≥ 0", l.Scale)
	}
	for i, a := range orders {
		rdp[i] += laplaceRDP(1/l.Scale, a)
	}
	return nil
}

func laplaceRDP(eps, a float64) float64 {
	if math.IsInf(eps, 1) {
		return eps
	}
	if math.IsInf(a, 1) {
		return eps
	}
	return eps + math.Log1p((a-1)*math.Expm1(eps*(1-2*a))/(2*a-1))/(a-1)
}

// TreeAggregation is one epoch of the tree-aggregation protocol of DP-FTRL
// (Kairouz et al. 2021, "Practical and Private (Deep) Learning without
// Sampling or Shuffling", App. D): each record enters at most one leaf of one
// of the trees, which are restarted after StepCounts[k] steps each. A record
// then affects at most ⌈log2(n+1)⌉ tree nodes of the largest tree (n steps),
// each noised with multiplier NoiseMultiplier, so the RDP is
// α·depth/(2σ²). Epochs compose as separate events.
type TreeAggregation struct {
	NoiseMultiplier float64 `json:"noise_multiplier"`
	StepCounts      []int   `json:"step_counts"`
}

// AddRDP implements Event.
func (t TreeAggregation) AddRDP(orders, rdp []float64) error {
	if !(t.NoiseMultiplier >= 0) {
		return fmt.Errorf("accountant: tree noise multiplier %v must be non-negative", t.NoiseMultiplier)
	}
	if len(t.StepCounts) == 0 {
		return errors.New("accountant: tree aggregation needs at least one step count")
	}
	maxSteps := 0
	for _, c := range t.StepCounts {
		if c < 0 {
			return fmt.Errorf("accountant: tree step count %d must be non-negative", c)
		}
		maxSteps = max(maxSteps, c)
	}
	depth := math.Ceil(math.Log2(float64(maxSteps) + 1))
	for i, a := range orders {
		if depth == 0 {
			continue
		}
		if t.NoiseMultiplier == 0 {
			rdp[i] = math.Inf(1)
			continue
		}
		rdp[i] += a * depth / (2 * t.NoiseMultiplier * t.NoiseMultiplier)
	}
	return nil
}

// DistributedDiscreteGaussian is one round of the distributed discrete
// Gaussian mechanism (Kairouz, Liu, Steinke 2021, "The Distributed Discrete
// Gaussian Mechanism for Federated Learning with Secure Aggregation"):
// Clients clients each add discrete Gaussian noise N_Z(0, Sigma²) to a
// Dim-dimensional integer vector, and only the sum is revealed. L1 and L2
// bound the sensitivity of the (integer, already scaled and rounded) sum.
// Sigma, L1 and L2 are in the same integer units.
type DistributedDiscreteGaussian struct {
	Sigma   float64 `json:"sigma"`
	Clients int     `json:"clients"`
	Dim     int     `json:"dim"`
	L1      float64 `json:"l1"`
	L2      float64 `json:"l2"`
}

// Tau is τ = 10·Σ_{k=1}^{n-1} exp(-2π²σ²·k/(k+1)), the distance of the sum of
// n discrete Gaussians from one discrete Gaussian of variance nσ² (ibid.,
// Thm. 1).
func (d DistributedDiscreteGaussian) Tau() float64 {
	t := 0.0
	for k := 1; k < d.Clients; k++ {
		fk := float64(k)
		t += math.Exp(-2 * math.Pi * math.Pi * d.Sigma * d.Sigma * fk / (fk + 1))
	}
	return 10 * t
}

// AddRDP implements Event, by Prop. 14 of the paper: with
// Δ̃₂ = L2/(√n σ), Δ̃₁ = L1/(√n σ) and d = Dim,
//
//	RDP(α) ≤ min{ α/2·Δ̃₂² + τd,
//	              α/2·(Δ̃₂² + 2Δ̃₁τ + τ²d),
//	              α/2·(Δ̃₂ + √d·τ)² }.
func (d DistributedDiscreteGaussian) AddRDP(orders, rdp []float64) error {
	if d.Clients < 1 || d.Dim < 1 {
		return fmt.Errorf("accountant: distributed discrete Gaussian needs clients ≥ 1 and dim ≥ 1 (got %d, %d)", d.Clients, d.Dim)
	}
	if !(d.Sigma >= 0.5) {
		// Thm. 1 assumes σ ≥ 1/2.
		return fmt.Errorf("accountant: discrete Gaussian sigma %v must be ≥ 0.5", d.Sigma)
	}
	if !(d.L1 >= 0 && d.L2 >= 0) {
		return fmt.Errorf("accountant: negative sensitivity (L1 %v, L2 %v)", d.L1, d.L2)
	}
	tau := d.Tau()
	sn := math.Sqrt(float64(d.Clients)) * d.Sigma
	l1, l2 := d.L1/sn, d.L2/sn
	dim := float64(d.Dim)
	for i, a := range orders {
		t1 := a/2*l2*l2 + tau*dim
		t2 := a / 2 * (l2*l2 + 2*l1*tau + tau*tau*dim)
		s := l2 + math.Sqrt(dim)*tau
		t3 := a / 2 * s * s
		rdp[i] += min(t1, t2, t3)
	}
	return nil
}

// Composed is the sequential composition of heterogeneous events.
type Composed []Event

// AddRDP implements Event.
func (c Composed) AddRDP(orders, rdp []float64) error {
	for _, e := range c {
		if err := e.AddRDP(orders, rdp); err != nil {
			return err
		}
	}
	return nil
}

// SelfComposed is Count sequential runs of one event.
type SelfComposed struct {
	Event Event
	Count int
}

// AddRDP implements Event: the event's RDP is computed once and scaled.
func (s SelfComposed) AddRDP(orders, rdp []float64) error {
	if s.Count < 0 {
		return fmt.Errorf("accountant: negative composition count %d", s.Count)
	}
	if s.Count == 0 {
		return nil
	}
	one := make([]float64, len(orders))
	if err := s.Event.AddRDP(orders, one); err != nil {
		return err
	}
	for i, v := range one {
		if v != 0 {
			rdp[i] += float64(s.Count) * v
		}
	}
	return nil
}
