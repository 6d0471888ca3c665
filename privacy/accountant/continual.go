package accountant

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// BinaryTree is one continual release of running counts by the binary
// (tree) mechanism (Chan, Shi, Song 2011, "Private and Continual Release
// of Statistics", Alg. 2; Dwork, Naor, Pitassi, Rothblum 2010): up to
// Releases prefix sums, each the sum of at most D = ⌈log2(Releases+1)⌉
// noisy dyadic nodes. A unit changes the nodes of each level by at most
// the sensitivity Δ in total, so its contribution meets D node releases'
// worth of sensitivity; the noise is given relative to Δ, and exactly one
// of LaplaceScale and NoiseMultiplier is set:
//
//   - LaplaceScale b/Δ: each node is a Laplace mechanism with L1
//     sensitivity Δ per level, the levels compose: ε = D·Δ/b, and the RDP
//     is D times the Laplace mechanism's (Mironov 2017, Prop. 6);
//   - NoiseMultiplier σ/Δ: the nodes form one Gaussian mechanism with L2
//     sensitivity √D·Δ, RDP α·D/(2σ²) — TreeAggregation's bound for one
//     tree of Releases steps (Kairouz et al. 2021, App. D).
//
// Releases of one tree cost no more than its whole, so a stream that
// starts a fresh tree per day is charged one event per tree.
type BinaryTree struct {
	Releases        int     `json:"releases"`
	LaplaceScale    float64 `json:"laplace_scale,omitempty"`
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
}

// Depth is D, the number of tree levels.
func (b BinaryTree) Depth() int { return bits.Len(uint(max(b.Releases, 0))) }

func (b BinaryTree) check() error {
	if b.Releases < 1 {
		return fmt.Errorf("accountant: a binary tree needs at least one release (got %d)", b.Releases)
	}
	lap, gauss := b.LaplaceScale != 0, b.NoiseMultiplier != 0
	if lap == gauss {
		return errors.New("accountant: a binary tree sets exactly one of laplace_scale and noise_multiplier")
	}
	if lap && !(b.LaplaceScale > 0 && !math.IsInf(b.LaplaceScale, 1)) {
		return fmt.Errorf("accountant: binary tree Laplace scale %v must be finite and > 0", b.LaplaceScale)
	}
	if gauss && !(b.NoiseMultiplier > 0 && !math.IsInf(b.NoiseMultiplier, 1)) {
		return fmt.Errorf("accountant: binary tree noise multiplier %v must be finite and > 0", b.NoiseMultiplier)
	}
	return nil
}

// AddRDP implements Event.
func (b BinaryTree) AddRDP(orders, rdp []float64) error {
	if err := b.check(); err != nil {
		return err
	}
	if b.NoiseMultiplier != 0 {
		return TreeAggregation{NoiseMultiplier: b.NoiseMultiplier, StepCounts: []int{b.Releases}}.AddRDP(orders, rdp)
	}
	return SelfComposed{Event: Laplace{Scale: b.LaplaceScale}, Count: b.Depth()}.AddRDP(orders, rdp)
}

// PureEpsilon is the ε of a Laplace tree, D·Δ/b (pure DP, δ = 0); ok is
// false for a Gaussian tree, whose (ε, δ) comes from its RDP curve.
func (b BinaryTree) PureEpsilon() (eps float64, ok bool, err error) {
	if err := b.check(); err != nil {
		return 0, false, err
	}
	if b.LaplaceScale == 0 {
		return 0, false, nil
	}
	return float64(b.Depth()) / b.LaplaceScale, true, nil
}

// Epsilon is the tree's ε at δ: PureEpsilon for a Laplace tree, the RDP
// curve's conversion (Improved, DefaultOrders) for a Gaussian one.
func (b BinaryTree) Epsilon(delta float64) (float64, error) {
	eps, ok, err := b.PureEpsilon()
	if err != nil || ok {
		return eps, err
	}
	a, err := NewRDP(nil)
	if err != nil {
		return 0, err
	}
	if err := a.Compose(b, 1); err != nil {
		return 0, err
	}
	eps, _, err = a.Epsilon(delta, Improved)
	return eps, err
}

// HybridCounter is one continual release of running counts by the hybrid
// mechanism (Chan, Shi, Song 2011, §4): a logarithmic mechanism — Laplace
// noise on the sums between powers of two — and, for each epoch
// (2^k, 2^{k+1}), a binary tree of k levels. A unit's contribution, at
// most Δ over the whole stream, is split among the logarithmic terms, and
// among each epoch tree's nodes of a level and the epochs, so:
//
//   - LaplaceScale s: the logarithmic terms have scale s·Δ and epoch k's
//     nodes k·s·Δ: ε = 1/s + 1/s = 2/s however many releases (pure DP;
//     RDP(α) ≤ min(ε, αε²/2), Bun and Steinke 2016, Prop. 3.3);
//   - NoiseMultiplier σ/Δ with Releases: every node has σ, and the L2
//     sensitivity of all of them is Δ·√(1 + D_max), D_max =
//     ⌈log2(Releases+1)⌉: RDP α(1 + D_max)/(2σ²).
//
// Exactly one of LaplaceScale and NoiseMultiplier is set.
type HybridCounter struct {
	Releases        int     `json:"releases"`
	LaplaceScale    float64 `json:"laplace_scale,omitempty"`
	NoiseMultiplier float64 `json:"noise_multiplier,omitempty"`
}

func (h HybridCounter) tree() BinaryTree {
	return BinaryTree{Releases: h.Releases, LaplaceScale: h.LaplaceScale, NoiseMultiplier: h.NoiseMultiplier}
}

// AddRDP implements Event.
func (h HybridCounter) AddRDP(orders, rdp []float64) error {
	if err := h.tree().check(); err != nil {
		return err
	}
	if h.NoiseMultiplier != 0 {
		return ZCDP{Rho: float64(1+h.tree().Depth()) / (2 * h.NoiseMultiplier * h.NoiseMultiplier)}.AddRDP(orders, rdp)
	}
	eps := 2 / h.LaplaceScale
	for i, a := range orders {
		rdp[i] += min(eps, a*eps*eps/2)
	}
	return nil
}

// Epsilon is the counter's ε at δ: 2/LaplaceScale for Laplace noise, the
// RDP curve's conversion (Improved, DefaultOrders) for Gaussian noise.
func (h HybridCounter) Epsilon(delta float64) (float64, error) {
	if err := h.tree().check(); err != nil {
		return 0, err
	}
	if h.LaplaceScale != 0 {
		return 2 / h.LaplaceScale, nil
	}
	a, err := NewRDP(nil)
	if err != nil {
		return 0, err
	}
	if err := a.Compose(h, 1); err != nil {
		return 0, err
	}
	eps, _, err := a.Epsilon(delta, Improved)
	return eps, err
}
